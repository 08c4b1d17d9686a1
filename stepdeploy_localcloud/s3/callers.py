"""Who signed an S3 request, for the bucket policy: the access key's account, role or user, and tags.

- an assumed role's key: the role's ARN (``aws:PrincipalArn``), the session's ARN, and its tags: the
  role's tags with the session tags of its AssumeRole (sts/sessions.py) over them;
- an IAM user's key: the user's ARN and tags;
- any other key (the local cloud's default ``testing`` credentials, the dummy credentials functions
  run with, an account administrator's key): the root of its account (the default account for a key
  IAM does not know), without tags;
- no signature at all: anonymous.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stepdeploy_localcloud import backends
from stepdeploy_localcloud.s3.policy import ANONYMOUS, Caller
from stepdeploy_localcloud.sts import sessions

_V4 = re.compile(r"Credential=([^/,\s]+)/")
_V2 = re.compile(r"^AWS ([^:\s]+):")


def access_key_of(headers: Mapping[str, str], params: Mapping[str, Any]) -> str | None:
    """The access key id of a request signed in its headers, its query (a presigned URL) or its form
    (a browser POST upload); None for an unsigned request."""
    authorization = str(headers.get("Authorization") or headers.get("authorization") or "")
    for pattern in (_V4, _V2):
        found = pattern.search(authorization)
        if found:
            return found.group(1)
    for name in ("X-Amz-Credential", "x-amz-credential", "AWSAccessKeyId"):
        value = params.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return str(value).split("/", 1)[0]
    return None


def caller_of(access_key: str | None) -> Caller:
    """The principal behind ``access_key`` as moto's IAM and STS know it."""
    from moto.iam.models import get_account_id_from

    if access_key is None:
        return ANONYMOUS
    for backend in backends.existing("iam"):
        key = backend.access_keys.get(access_key)
        if key is None:
            continue
        account_id = str(backend.account_id)
        if getattr(key, "role_arn", None):
            return _role_session(backend, account_id, access_key, str(key.role_arn))
        if getattr(key, "user_name", None):
            user = backend.get_user(key.user_name)
            return Caller(arn=user.arn, account=account_id, tags=_tags(backend.list_user_tags(key.user_name)))
        return _root(account_id)
    return _root(get_account_id_from(access_key))


def _root(account: str) -> Caller:
    return Caller(arn=f"arn:aws:iam::{account}:root", account=account)


def _role_session(backend: Any, account_id: str, access_key: str, role_arn: str) -> Caller:
    try:
        role_tags = _tags(backend.get_role_by_arn(role_arn).tags)
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity: a role deleted since it was assumed
        role_tags = {}
    session_arn = None
    for sts in backends.existing("sts", account_id):
        assumed = sts.get_assumed_role_from_access_key(access_key)
        if assumed is not None:
            session_arn = str(assumed.arn)
    tags = {key.lower(): (key, value) for key, value in role_tags.items()}
    tags.update({key.lower(): (key, value) for key, value in sessions.tags_of(access_key).items()})
    return Caller(arn=role_arn, account=account_id, tags=dict(tags.values()), session_arn=session_arn)


def _tags(tags: Any) -> dict[str, str]:
    if isinstance(tags, Mapping):  # moto keeps a role's tags as {key: {"Key": key, "Value": value}}
        tags = list(tags.values())
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or []}
