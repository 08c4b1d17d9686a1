"""Published version numbers are never reused after versions are deleted (retention deletes them)."""

from __future__ import annotations

import contextlib
import io
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stepdeploy_localcloud import patching
from stepdeploy_localcloud.awslambda import patch as lambda_patch

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]


def code(number: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {number}\n")
    return buffer.getvalue()


def four_versions(aws: Aws) -> tuple[Any, str]:
    lam, iam = aws("lambda"), aws("iam")
    with contextlib.suppress(ClientError):
        iam.create_role(RoleName="lambda-versions-test-role", AssumeRolePolicyDocument="{}")
    role = iam.get_role(RoleName="lambda-versions-test-role")["Role"]["Arn"]
    name = f"versions-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Role=role, Handler="app.handler", Runtime="python3.11",
                        Code={"ZipFile": code(0)})
    for number in range(1, 5):
        lam.update_function_code(FunctionName=name, ZipFile=code(number))
        assert lam.publish_version(FunctionName=name)["Version"] == str(number)
    for number in (1, 2):
        lam.delete_function(FunctionName=name, Qualifier=str(number))
    lam.update_function_code(FunctionName=name, ZipFile=code(5))
    return lam, name


def listed(lam: Any, name: str) -> list[str]:
    return [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]


def test_a_new_version_after_deletions_gets_the_next_number(aws: Aws) -> None:
    lambda_patch.apply()
    lam, name = four_versions(aws)
    assert lam.publish_version(FunctionName=name)["Version"] == "5"
    assert listed(lam, name) == ["$LATEST", "3", "4", "5"]
    assert lam.get_function(FunctionName=name, Qualifier="5")["Configuration"]["Version"] == "5"
    for number in ("3", "4", "5"):
        lam.delete_function(FunctionName=name, Qualifier=number)
    lam.update_function_code(FunctionName=name, ZipFile=code(6))
    assert lam.publish_version(FunctionName=name)["Version"] == "6"  # even with no version left


def test_moto_alone_reuses_a_number(aws: Aws) -> None:
    """What the adapter is for: if moto stops reusing numbers, this test says so."""
    with patching.suspended():
        lam, name = four_versions(aws)
        assert lam.publish_version(FunctionName=name)["Version"] == "3"
