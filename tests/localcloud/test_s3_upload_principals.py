"""The bucket policy of an S3 request is evaluated for the principal that signed it (s3/patch.py,
s3/callers.py): role tags, session tags and user tags resolve ``${aws:PrincipalTag/...}``, and a Deny
answers AccessDenied (403) in AWS's words, for a put, a copy, a multipart upload and a browser POST."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from stepdeploy_localcloud import endpoint
from stepdeploy_localcloud.s3 import patch as s3_patch
from stepdeploy_localcloud.sts import patch as sts_patch

pytestmark = pytest.mark.localcloud

BUCKET = "upload-principals"
TAG = "stepdeploy-upload-repository"
ACCOUNT = "123456789012"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "UploadsOnlyByPrincipalsTaggedForOneRepository", "Effect": "Deny", "Principal": "*",
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/uploads/*",
         "Condition": {"StringNotLike": {f"aws:PrincipalTag/{TAG}": "?*/?*"}}},
        {"Sid": "UploadPrincipalsWriteOnlyUnderTheirRepository", "Effect": "Deny", "Principal": "*",
         "Action": "s3:PutObject", "NotResource": f"arn:aws:s3:::{BUCKET}/uploads/${{aws:PrincipalTag/{TAG}}}/*",
         "Condition": {"Null": {f"aws:PrincipalTag/{TAG}": "false"}}},
    ],
}


@pytest.fixture()
def bucket(aws: Callable[[str], Any]) -> Any:
    s3_patch.apply()
    sts_patch.apply()
    s3 = aws("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(POLICY))
    return s3


def client(aws: Callable[[str], Any], service: str, credentials: dict[str, str]) -> Any:
    return boto3.client(service, endpoint_url=aws("s3").meta.endpoint_url, region_name=endpoint.REGION,
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials.get("SessionToken"))


def role(aws: Callable[[str], Any], name: str, repository: str | None, tag_session: bool = False) -> str:
    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else "sts:AssumeRole"
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": actions}]}
    iam = aws("iam")
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_role(RoleName=name)
    tags = [{"Key": TAG, "Value": repository}] if repository else []
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=tags)["Role"]["Arn"])


def as_role(aws: Callable[[str], Any], arn: str, **extra: Any) -> Any:
    credentials = aws("sts").assume_role(RoleArn=arn, RoleSessionName="upload", **extra)["Credentials"]
    return client(aws, "s3", credentials)


def refusal(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value


def put(s3: Any, key: str) -> Any:
    return s3.put_object(Bucket=BUCKET, Key=key, Body=b"PK", Metadata={"sha256": "0" * 64})


def test_two_tagged_roles_upload_each_under_their_repository_and_an_untagged_one_nowhere(aws, bucket):
    sample = as_role(aws, role(aws, "upload-sample", "platform/sample-app"))
    other = as_role(aws, role(aws, "upload-other", "platform/other"))
    untagged = as_role(aws, role(aws, "upload-untagged", None))
    put(sample, "uploads/platform/sample-app/r1.zip")
    put(other, "uploads/platform/other/r1.zip")

    forged = refusal(lambda: put(sample, "uploads/platform/other/r2.zip"))
    assert forged.response["Error"]["Code"] == "AccessDenied"
    assert forged.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert forged.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/upload-sample/upload is not authorized to perform: "
        f"s3:PutObject on resource: \"arn:aws:s3:::{BUCKET}/uploads/platform/other/r2.zip\" with an explicit "
        "deny in a resource-based policy (statement UploadPrincipalsWriteOnlyUnderTheirRepository)")
    assert refusal(lambda: put(other, "uploads/platform/sample-app/r2.zip")).response["Error"]["Code"] == "AccessDenied"
    assert refusal(lambda: put(sample, "builds/x/bundle.zip")).response["Error"]["Code"] == "AccessDenied"
    for caller in (untagged, bucket):  # an untagged role; the default credentials
        refused = refusal(lambda s3=caller: put(s3, "uploads/platform/sample-app/r3.zip"))
        assert "(statement UploadsOnlyByPrincipalsTaggedForOneRepository)" in refused.response["Error"]["Message"]
    put(untagged, "builds/x/bundle.zip")  # what the orchestrator's roles write elsewhere stays theirs
    put(bucket, "artifacts/x.zip")
    keys = {o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET, Prefix="uploads/")["Contents"]}
    assert "uploads/platform/other/r2.zip" not in keys and "uploads/platform/sample-app/r3.zip" not in keys
    assert bucket.get_object(Bucket=BUCKET, Key="uploads/platform/other/r1.zip")["Body"].read() == b"PK"


def test_copies_and_multipart_uploads_are_puts(aws, bucket):
    sample = as_role(aws, role(aws, "upload-sample", "platform/sample-app"))
    put(sample, "uploads/platform/sample-app/src.zip")
    copied = {"Bucket": BUCKET, "Key": "uploads/platform/sample-app/src.zip"}
    sample.copy_object(Bucket=BUCKET, Key="uploads/platform/sample-app/copy.zip", CopySource=copied)
    assert refusal(lambda: sample.copy_object(Bucket=BUCKET, Key="uploads/platform/other/copy.zip",
                                              CopySource=copied)).response["Error"]["Code"] == "AccessDenied"
    assert refusal(lambda: sample.create_multipart_upload(
        Bucket=BUCKET, Key="uploads/platform/other/big.zip")).response["Error"]["Code"] == "AccessDenied"
    started = sample.create_multipart_upload(Bucket=BUCKET, Key="uploads/platform/sample-app/big.zip")
    part = sample.upload_part(Bucket=BUCKET, Key="uploads/platform/sample-app/big.zip", PartNumber=1,
                              UploadId=started["UploadId"], Body=b"PK")
    sample.complete_multipart_upload(Bucket=BUCKET, Key="uploads/platform/sample-app/big.zip",
                                     UploadId=started["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert bucket.head_object(Bucket=BUCKET, Key="uploads/platform/sample-app/big.zip")["ContentLength"] == 2


def test_a_browser_post_upload_is_checked_for_its_signer(aws, bucket):
    sample = as_role(aws, role(aws, "upload-sample", "platform/sample-app"))
    for key, expected in (("uploads/platform/other/post.zip", 403), ("uploads/platform/sample-app/post.zip", 204)):
        form = sample.generate_presigned_post(Bucket=BUCKET, Key=key)
        answer = requests.post(form["url"], data=form["fields"], files={"file": ("post.zip", b"PK")}, timeout=30)
        assert answer.status_code == expected, answer.text
        if expected == 403:
            assert "<Code>AccessDenied</Code>" in answer.text


def test_session_tags_need_tag_session_and_count_over_the_roles_tag(aws, bucket):
    plain = role(aws, "upload-plain", "platform/sample-app")
    refused = refusal(lambda: aws("sts").assume_role(RoleArn=plain, RoleSessionName="upload",
                                                     Tags=[{"Key": TAG, "Value": "platform/other"}]))
    assert "sts:TagSession" in refused.response["Error"]["Message"]
    taggable = role(aws, "upload-taggable", "platform/sample-app", tag_session=True)
    retagged = as_role(aws, taggable, Tags=[{"Key": TAG, "Value": "platform/other"}])
    put(retagged, "uploads/platform/other/r.zip")
    own = refusal(lambda: put(retagged, "uploads/platform/sample-app/r.zip"))
    assert own.response["Error"]["Code"] == "AccessDenied"
    put(as_role(aws, taggable), "uploads/platform/sample-app/r.zip")  # a session without tags: the role's


def test_an_iam_users_tags_count(aws, bucket):
    iam = aws("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName="release-bot", Tags=[{"Key": TAG, "Value": "platform/sample-app"}])
    key = iam.create_access_key(UserName="release-bot")["AccessKey"]
    bot = client(aws, "s3", key)
    put(bot, "uploads/platform/sample-app/bot.zip")
    assert refusal(lambda: put(bot, "uploads/platform/other/bot.zip")).response["Error"]["Code"] == "AccessDenied"
    iam.delete_access_key(UserName="release-bot", AccessKeyId=key["AccessKeyId"])
