"""A resource policy per qualifier (``awslambda/policies.py``), through boto3."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stepdeploy_localcloud.awslambda import policies

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]


@pytest.fixture()
def function(aws: Aws) -> dict[str, Any]:
    policies.apply()
    iam = aws("iam")
    with contextlib.suppress(ClientError):
        iam.create_role(RoleName="policies-test", AssumeRolePolicyDocument="{}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    client = aws("lambda")
    name = f"pol-{uuid.uuid4().hex[:8]}"
    arn = client.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                                 Role=iam.get_role(RoleName="policies-test")["Role"]["Arn"],
                                 Code={"ZipFile": buffer.getvalue()})["FunctionArn"]
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    client.create_alias(FunctionName=name, Name="beta", FunctionVersion="1")  # the same version as live
    return {"name": name, "arn": arn, "lambda": client}


def statements(client: Any, name: str, qualifier: str | None = None) -> dict[str, str]:
    """Sid -> Resource of the policy of ``name`` (or of one of its qualifiers)."""
    extra = {"Qualifier": qualifier} if qualifier else {}
    policy = json.loads(client.get_policy(FunctionName=name, **extra)["Policy"])
    return {s["Sid"]: s["Resource"] for s in policy["Statement"]}


def grant(client: Any, name: str, sid: str, **extra: Any) -> dict[str, Any]:
    answer = client.add_permission(FunctionName=name, StatementId=sid, Action="lambda:InvokeFunction",
                                   Principal="apigateway.amazonaws.com", **extra)
    return dict(json.loads(answer["Statement"]))


def test_a_permission_on_an_alias_stays_on_the_alias(function: dict[str, Any]) -> None:
    client, name, arn = function["lambda"], function["name"], function["arn"]
    assert grant(client, name, "api", Qualifier="live")["Resource"] == f"{arn}:live"
    grant(client, name, "sns")
    grant(client, f"{arn}:1", "version")  # a qualified ARN names the qualifier too

    assert statements(client, name) == {"sns": arn}
    assert statements(client, name, "live") == {"api": f"{arn}:live"}
    assert statements(client, f"{name}:live") == {"api": f"{arn}:live"}
    assert statements(client, name, "1") == {"version": f"{arn}:1"}
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_policy(FunctionName=name, Qualifier="beta")  # live's version, but not live's policy
    with pytest.raises(ClientError, match=f"ResourceNotFoundException.*{arn}:nope"):
        grant(client, name, "x", Qualifier="nope")
    with pytest.raises(ClientError, match=r"ResourceConflictException.*statement id \(api\)"):
        grant(client, name, "api", Qualifier="live")
    grant(client, name, "api")  # the same id on another policy is another statement


def test_remove_permission_acts_on_the_qualifier_named(function: dict[str, Any]) -> None:
    client, name, arn = function["lambda"], function["name"], function["arn"]
    grant(client, name, "api", Qualifier="live")
    grant(client, name, "own")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.remove_permission(FunctionName=name, StatementId="api")  # not on the function's own policy
    client.remove_permission(FunctionName=name, StatementId="api", Qualifier="live")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_policy(FunctionName=name, Qualifier="live")
    assert statements(client, name) == {"own": arn}

    grant(client, name, "again", Qualifier="live")
    client.delete_alias(FunctionName=name, Name="live")
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_policy(FunctionName=name, Qualifier="live")  # the policy went with the alias
