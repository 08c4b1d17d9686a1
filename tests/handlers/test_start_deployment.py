"""StartDeployment against moto: readable names, one execution per trigger, refusals start nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError

from stepdeploy.ingress import start_deployment
from stepdeploy.ingress.naming import NAME_PATTERN
from stepdeploy.settings import settings

from .conftest import Context, load_handler

pytestmark = pytest.mark.handler
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
PASS_MACHINE = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}})


def push_event(event_id: str = "e-1", **detail: Any) -> dict[str, Any]:
    return {
        "version": "0", "id": event_id, "detail-type": "GHE Push", "source": "stepdeploy.ghe",
        "account": "123456789012", "time": "2026-11-23T18:00:00Z", "region": "us-east-1",
        "resources": ["https://ghe.example.com/platform/sample-app.git"],
        "detail": {
            "delivery_id": "d-1", "repository": "platform/sample-app", "ref": "refs/heads/main",
            "before": "0" * 40, "after": COMMIT, "created": False, "deleted": False, "forced": False,
            "clone_url": "https://ghe.example.com/platform/sample-app.git", **detail,
        },
    }


def upload_event(event_id: str = "e-2", *, key: str = "uploads/platform/sample-app/release-1.zip",
                 bucket: str = "stepdeploy-artifacts", version: str | None = None,
                 sequencer: str = "0062E99A88DC407460") -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "size": 10, "etag": "abc", "sequencer": sequencer}
    if version:
        obj["version-id"] = version
    return {
        "version": "0", "id": event_id, "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-11-23T18:05:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": obj, "reason": "PutObject"},
    }


@pytest.fixture()
def machine(orchestrator, monkeypatch) -> Iterator[str]:
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="stepdeploy-deploy", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    settings.cache_clear()
    yield arn
    settings.cache_clear()


def executions(arn: str) -> list[dict[str, Any]]:
    return boto3.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]


def put_upload(key: str, **metadata: str) -> str | None:
    s3 = boto3.client("s3")
    s3.put_bucket_versioning(Bucket="stepdeploy-artifacts", VersioningConfiguration={"Status": "Enabled"})
    return s3.put_object(Bucket="stepdeploy-artifacts", Key=key, Body=b"zip", Metadata=metadata).get("VersionId")


def test_a_push_starts_one_readably_named_execution_with_the_transformer_input(machine):
    event = push_event()
    out = load_handler("start_deployment").handler(event, Context())
    assert out["started"] is True
    assert out["execution_name"].startswith("sample-app-main-6113728-") and NAME_PATTERN.match(out["execution_name"])
    described = boto3.client("stepfunctions").describe_execution(executionArn=out["execution_arn"])
    assert json.loads(described["input"]) == {"source": "ghe", "event": event}


def test_a_second_event_for_the_same_push_starts_nothing(machine):
    handler = load_handler("start_deployment").handler
    first = handler(push_event("e-1"), Context())
    # another delivery of the same push (another hook, or a republished delivery): another event id
    second = handler(push_event("e-2", delivery_id="d-2"), Context())
    assert first["started"] is True
    assert second == {"started": False, "duplicate": True, "execution_name": first["execution_name"]}
    assert len(executions(machine)) == 1


def test_the_same_event_delivered_twice_keeps_one_execution(machine):
    handler = load_handler("start_deployment").handler
    first = handler(push_event("e-1"), Context())
    again = handler(push_event("e-1"), Context())  # EventBridge's at-least-once delivery: same input
    # Step Functions answers the original execution (same name and input, still running) or refuses
    assert again.get("execution_arn", first["execution_arn"]) == first["execution_arn"]
    assert len(executions(machine)) == 1


def test_another_branch_or_commit_is_another_execution(machine):
    handler = load_handler("start_deployment").handler
    handler(push_event("e-1"), Context())
    handler(push_event("e-2", ref="refs/heads/feature/x"), Context())
    handler(push_event("e-3", after="a" * 40), Context())
    assert len(executions(machine)) == 3


def test_an_odd_branch_is_data_and_a_sanitised_name(machine):
    branch = "feature/ünï-$(touch${IFS}/tmp/pwned);`id`|x&y"
    out = load_handler("start_deployment").handler(push_event(ref=f"refs/heads/{branch}"), Context())
    assert out["started"] is True
    assert out["execution_name"].startswith("sample-app-feature-uni-touch-IFS-tmp-pwned-id-x-y-6113728-")
    described = boto3.client("stepfunctions").describe_execution(executionArn=out["execution_arn"])
    assert json.loads(described["input"])["event"]["detail"]["ref"] == f"refs/heads/{branch}"


def test_an_upload_is_named_from_its_metadata_and_duplicates_start_nothing(machine):
    key = "uploads/platform/sample-app/release-1.zip"
    version = put_upload(key, branch="main", commit=COMMIT)
    handler = load_handler("start_deployment").handler
    first = handler(upload_event("e-1", key=key, version=version), Context())
    duplicate = handler(upload_event("e-2", key=key, version=version), Context())  # same version and sequencer
    assert first["started"] is True and first["execution_name"].startswith("sample-app-main-6113728-")
    assert duplicate["duplicate"] is True
    newer = put_upload(key, branch="main", commit=COMMIT)
    second = handler(upload_event("e-3", key=key, version=newer, sequencer="0062E99A88DC407461"), Context())
    assert second["started"] is True and second["execution_name"] != first["execution_name"]
    assert len(executions(machine)) == 2


def test_an_upload_without_metadata_is_named_from_its_key(machine):
    key = "uploads/platform/sample-app/release-7.zip"
    version = put_upload(key)
    out = load_handler("start_deployment").handler(upload_event(key=key, version=version), Context())
    assert out["started"] is True and out["execution_name"].startswith("sample-app-release-7-")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (push_event(repository="someone/else"), "allow-list"),
        (push_event(deleted=True, after="0" * 40), "deletions deploy nothing"),
        (push_event(ref="refs/tags/v1"), "only branch pushes"),
        (push_event(ref="refs/heads/a..b"), "not a git ref name"),
        (push_event(after="not-a-commit"), "40-hex"),
        (push_event(repository="no-owner"), "owner/repo"),
        ({**push_event(), "detail": "text"}, "without a detail"),
        ({**push_event(), "source": "someone.else"}, "neither a GHE push nor an S3 upload"),
        (upload_event(bucket="another-bucket"), "not the orchestrator's artifact bucket"),
        (upload_event(key="uploads/platform/sample-app/../../x.zip"), "not allowed"),
        (upload_event(key="uploads/platform/%2e%2e/x.zip"), "percent-encoded"),
        (upload_event(key="/uploads/platform/sample-app/x.zip"), "absolute"),
        (upload_event(key="uploads/platform/sample-app/x.tar"), "expected uploads/"),
        (upload_event(key="uploads/someone/else/x.zip"), "allow-list"),
    ],
)
def test_refused_triggers_start_nothing(machine, event, reason):
    out = load_handler("start_deployment").handler(copy.deepcopy(event), Context())
    assert out["started"] is False and reason in out["reason"]
    assert executions(machine) == []


def test_a_fault_raises_so_lambda_retries_then_dead_letters(machine):
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution")
    sfn = mock.Mock(**{"start_execution.side_effect": throttled})
    with pytest.raises(ClientError, match="ThrottlingException"):
        start_deployment.start_deployment(push_event(), sfn=sfn)


def test_a_missing_state_machine_arn_names_the_variable(orchestrator, monkeypatch):
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)
    settings.cache_clear()
    with pytest.raises(RuntimeError, match="STATE_MACHINE_ARN"):
        start_deployment.start_deployment(push_event())
