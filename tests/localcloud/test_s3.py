"""The artifact bucket's TLS-only policy lets loopback requests through; other denies still deny."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from stepdeploy_localcloud.s3 import patch as s3_policy

pytestmark = pytest.mark.localcloud


def policy(bucket: str, condition: dict | None) -> str:
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_tls_only_policy_allows_and_plain_deny_denies(aws):
    s3_policy.apply()
    s3 = aws("s3")
    s3.create_bucket(Bucket="tls-only")
    s3.put_bucket_policy(Bucket="tls-only", Policy=policy("tls-only", {"Bool": {"aws:SecureTransport": "false"}}))
    s3.put_object(Bucket="tls-only", Key="a", Body=b"x")
    assert s3.get_object(Bucket="tls-only", Key="a")["Body"].read() == b"x"
    s3.create_bucket(Bucket="deny-all")
    s3.put_bucket_policy(Bucket="deny-all", Policy=policy("deny-all", None))
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket="deny-all", Key="a", Body=b"x")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
