"""Prune versions against moto's Lambda and the ledger: what goes, what stays, and a failure that stays a report."""

from __future__ import annotations

import copy
import io
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler

STACK = "sample-prod"


def code(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", text)
    return buffer.getvalue()


def event() -> dict[str, Any]:
    return copy.deepcopy(load_event("prune_versions"))


def function_name() -> str:
    return str(event()["document"]["versions"]["functions"][0]["function_name"])


def released(name: str, version: str, previous: str | None, started: str, outcome: str = "Deployed") -> dict:
    return {
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:{name}",
        "execution_name": name,
        "stack": STACK,
        "outcome": outcome,
        "started_at": started,
        "versions": [{"logical_id": "GreeterFunction", "function_name": function_name(), "alias": "live",
                      "version": version, "previous_version": previous, "changed": version != previous}],
    }


def nine_versions() -> Any:
    """Versions 1..9; releases r1..r6 (v1..v6) Deployed, v7's release failed, r8 (v8) is the one that just
    ended; v9 belongs to a deployment still running. Alias live -> 8, alias beta -> 2 with 50 % on 4."""
    from stepdeploy.aws.ledger import ledger

    lam = boto3.client("lambda")
    role = boto3.client("iam").create_role(RoleName="greeter", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    name = function_name()
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": code("def handler(e, c):\n    return 0\n")})
    for number in range(1, 10):
        lam.update_function_code(FunctionName=name, ZipFile=code(f"def handler(e, c):\n    return {number}\n"))
        assert lam.publish_version(FunctionName=name)["Version"] == str(number)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="8")
    lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="2",
                     RoutingConfig={"AdditionalVersionWeights": {"4": 0.5}})
    for number in range(1, 7):
        previous = str(number - 1) if number > 1 else None
        ledger().record_release(released(f"r{number}", str(number), previous, f"2026-11-2{number}T10:00:00.000Z"))
    ledger().record_release(released("r7", "7", "6", "2026-11-27T10:00:00.000Z", "AlarmFired"))
    ledger().record_release(released("r8", "8", "6", "2026-11-28T10:00:00.000Z"))
    return lam


def left(lam: Any) -> list[str]:
    versions = lam.list_versions_by_function(FunctionName=function_name())["Versions"]
    return [v["Version"] for v in versions if v["Version"] != "$LATEST"]


def test_versions_beyond_the_last_releases_go_alias_and_rollback_targets_stay(orchestrator, monkeypatch):
    from stepdeploy.settings import settings

    monkeypatch.setenv("RETAIN_RELEASES", "2")
    settings.cache_clear()
    lam = nine_versions()

    out = load_handler("prune_versions").handler(event(), Context())

    (pruned,) = out["pruned"]["functions"]
    assert out["pruned"]["retain"] == 2
    assert pruned["deleted"] == ["1", "3", "5", "7"]
    # 2 and 4: alias beta; 6: r6, one of the last two releases and the rollback target; 8: live; 9: newer
    assert pruned["kept"] == ["2", "4", "6", "8", "9"]
    assert left(lam) == ["2", "4", "6", "8", "9"]
    assert out["release"]["outcome"] == "Deployed"

    again = load_handler("prune_versions").handler(event(), Context())  # a retry deletes nothing more
    assert again["pruned"]["functions"][0]["deleted"] == []


def test_the_rollback_target_stays_with_one_release_retained(orchestrator, monkeypatch):
    from stepdeploy.settings import settings

    monkeypatch.setenv("RETAIN_RELEASES", "1")
    settings.cache_clear()
    lam = nine_versions()
    out = load_handler("prune_versions").handler(event(), Context())
    assert out["pruned"]["functions"][0]["deleted"] == ["1", "3", "5", "7"]
    assert "6" in left(lam)  # r6: what `stepdeploy rollback sample-prod` goes back to


def test_zero_keeps_every_version(orchestrator, monkeypatch):
    from stepdeploy.settings import settings

    monkeypatch.setenv("RETAIN_RELEASES", "0")
    settings.cache_clear()
    lam = nine_versions()
    out = load_handler("prune_versions").handler(event(), Context())
    assert out["pruned"] == {"retain": 0, "functions": []}
    assert left(lam) == [str(n) for n in range(1, 10)]


def test_a_version_that_cannot_be_deleted_is_reported_and_the_release_stays_deployed(orchestrator, monkeypatch):
    from stepdeploy.aws.lambda_versions import LambdaVersions
    from stepdeploy.settings import settings

    monkeypatch.setenv("RETAIN_RELEASES", "2")
    settings.cache_clear()
    lam = nine_versions()
    real = LambdaVersions.delete_version

    def refuse_three(self: LambdaVersions, function: str, version: str) -> None:
        if version == "3":
            raise ClientError({"Error": {"Code": "ResourceConflictException", "Message": "in use"}}, "DeleteFunction")
        real(self, function, version)

    monkeypatch.setattr(LambdaVersions, "delete_version", refuse_three)
    out = load_handler("prune_versions").handler(event(), Context())
    (pruned,) = out["pruned"]["functions"]
    assert pruned["deleted"] == ["1", "5", "7"]
    assert pruned["failed"] == {"3": "ResourceConflictException"}
    assert left(lam) == ["2", "3", "4", "6", "8", "9"]


def test_bad_retain_releases_fails_at_cold_start_naming_the_variable(orchestrator, monkeypatch):
    from stepdeploy.settings import settings

    monkeypatch.setenv("RETAIN_RELEASES", "five")
    settings.cache_clear()
    with pytest.raises(RuntimeError, match=r"RETAIN_RELEASES: expected a whole number from 0 to 100, got 'five'"):
        load_handler("prune_versions").handler(event(), Context())
