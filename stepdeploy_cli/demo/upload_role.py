"""An upload principal for one repository, set up as a platform team would (docs/trust.md).

The artifact bucket's policy accepts a put under ``uploads/<owner>/<repo>/`` only from a principal
tagged ``stepdeploy-upload-repository = <owner>/<repo>``, and lets such a principal write nowhere
else in the bucket. ``ensure_upload_role`` creates (or finds) the role
``stepdeploy-upload-<owner>-<repo>``, tagged so and assumable by the account's principals;
``upload_client`` assumes it and returns an S3 client acting as that role. The demo and the tests
upload this way on the local cloud; on AWS the same calls need IAM rights a platform team has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

UPLOAD_REPOSITORY_TAG = "stepdeploy-upload-repository"
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


class UploadRoleError(ValueError):
    """The repository is not ``owner/repo``."""


def role_name(repository: str) -> str:
    """``stepdeploy-upload-<owner>-<repo>``, within IAM's 64 characters."""
    if not _REPOSITORY.match(repository):
        raise UploadRoleError(
            f"repository {repository!r}: expected owner/repo (letters, digits, '_', '.', '-')"
        )
    return f"stepdeploy-upload-{repository.replace('/', '-')}"[:64]


def ensure_upload_role(iam: Any, account: str, repository: str) -> str:
    """The ARN of the upload role of ``repository`` (created, tagged, when missing)."""
    name = role_name(repository)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                       "Action": "sts:AssumeRole"}],
    }
    try:
        role = iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
            Description=f"Uploads prebuilt artifacts of {repository} to stepdeploy",
            Tags=[{"Key": UPLOAD_REPOSITORY_TAG, "Value": repository}],
        )["Role"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=name)["Role"]
        iam.tag_role(RoleName=name, Tags=[{"Key": UPLOAD_REPOSITORY_TAG, "Value": repository}])
    return str(role["Arn"])


def upload_client(make_client: Callable[[str], Any], repository: str) -> S3Client:
    """An S3 client acting as the upload role of ``repository``. ``make_client(service)`` makes the
    clients of the account that owns the bucket (``boto3.client``, or ``LocalCloud.client``); the S3
    client it returns uses the same endpoint and region."""
    sts = make_client("sts")
    account = str(sts.get_caller_identity()["Account"])
    role_arn = ensure_upload_role(make_client("iam"), account, repository)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="stepdeploy-upload")["Credentials"]
    meta = make_client("s3").meta
    return boto3.client(
        "s3", endpoint_url=meta.endpoint_url, region_name=meta.region_name,
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
