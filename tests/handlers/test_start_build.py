"""Start build against moto's CodeBuild: a build of the project at the pushed commit, and its id.

What the handler asks CodeBuild for is read from the StartBuild call itself (a botocore event hook
on the client the task uses); the build it returns is moto's.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stepdeploy.errors import StackLocked
from stepdeploy.models import Document, dump

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler
PROJECT = "stepdeploy-build"  # CODEBUILD_PROJECT of the orchestrator fixture
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
CLONE_URL = "https://ghe.example.com/platform/sample-app.git"


@pytest.fixture()
def started(orchestrator: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """The project in CodeBuild; yields the parameters of every StartBuild call the task makes."""
    from stepdeploy.aws import clients

    boto3.client("codebuild").create_project(
        name=PROJECT,
        source={"type": "GITHUB_ENTERPRISE", "location": CLONE_URL},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole="arn:aws:iam::123456789012:role/stepdeploy-codebuild",
    )
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(copy.deepcopy(params))

    clients.client("codebuild").meta.events.register("before-parameter-build.codebuild.StartBuild", record)
    yield calls


def start_event() -> dict[str, Any]:
    """The sample event for an execution of its own: CodeBuild (the local cloud's too) remembers an
    idempotency token for minutes, across tests."""
    event = load_event("start_build")
    name = f"demo-{uuid.uuid4().hex[:8]}"
    event["execution"].update(Id=event["execution"]["Id"].replace(":demo-1", f":{name}"), Name=name)
    event["document"]["lock"]["owner"] = event["execution"]["Id"]
    return event


def start_build(event: dict[str, Any]) -> dict[str, Any]:
    return load_handler("start_build").handler(event, Context())


def builds_of_project() -> list[str]:
    return boto3.client("codebuild").list_builds_for_project(projectName=PROJECT)["ids"]


def test_a_build_of_the_commit_is_started_and_its_id_returned(started):
    event = start_event()
    out = start_build(event)

    build = out["build"]
    assert build["build_id"].startswith(f"{PROJECT}:") and build["status"] == "IN_PROGRESS"
    assert not build.get("done") and "artifact" not in build
    assert builds_of_project() == [build["build_id"]]
    (described,) = boto3.client("codebuild").batch_get_builds(ids=[build["build_id"]])["builds"]
    assert (described["projectName"], described["sourceVersion"]) == (PROJECT, COMMIT)
    # The rest of the document goes on as it came.
    assert {k: v for k, v in out.items() if k != "build"} == dump(Document.model_validate(event["document"]))

    (sent,) = started
    assert sent["projectName"] == PROJECT
    assert sent["sourceVersion"] == COMMIT
    assert (sent["sourceTypeOverride"], sent["sourceLocationOverride"]) == ("GITHUB_ENTERPRISE", CLONE_URL)
    assert sent["gitCloneDepthOverride"] == 1  # a shallow clone of the one commit
    assert sent["artifactsOverride"] == {
        "type": "S3",
        "location": "stepdeploy-artifacts",
        "path": f"builds/platform/sample-app/{COMMIT}",
        "name": "bundle.zip",
        "packaging": "ZIP",
        "namespaceType": "BUILD_ID",  # builds/<owner>/<repo>/<commit>/<build id>/bundle.zip: one key per build
    }
    assert sent["privilegedModeOverride"] is False  # the allow-list entry does not opt in
    variables = {v["name"]: v["value"] for v in sent["environmentVariablesOverride"]}
    assert variables == {
        "STEPDEPLOY_REPOSITORY": "platform/sample-app",
        "STEPDEPLOY_COMMIT": COMMIT,
        "STEPDEPLOY_BRANCH": "main",
        "STEPDEPLOY_TEMPLATE": "template.yaml",
    }
    assert "buildspecOverride" not in sent  # the repository has its own buildspec


def test_the_clone_url_is_built_from_the_configured_ghe_host_never_taken_from_the_event(started):
    event = start_event()
    event["document"]["request"]["clone_url"] = "https://evil.example.net/platform/sample-app.git"
    start_build(event)
    (sent,) = started
    assert sent["sourceLocationOverride"] == CLONE_URL


def test_a_build_runs_privileged_only_when_the_allow_list_entry_opts_in(started, monkeypatch):
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.settings import settings

    sent = []
    for allowed in (
        "platform/sample-app:other-*:privileged,platform/sample-app:sample-*",  # opted in for other stacks only
        "platform/sample-app:sample-*:adopt:privileged",
    ):
        monkeypatch.setenv("ALLOWED_REPOSITORIES", allowed)
        settings.cache_clear()
        event = start_event()
        start_build(event)
        ledger().release_lock("sample-prod", event["execution"]["Id"])  # as Record release does at the end
        sent.append(started[-1]["privilegedModeOverride"])
    assert sent == [False, True]


def test_a_repository_without_a_buildspec_gets_the_one_resolved_for_it(started):
    event = start_event()
    event["document"]["request"]["buildspec"] = "version: 0.2\nphases:\n  build:\n    commands: [sam build]\n"
    start_build(event)
    (sent,) = started
    assert sent["buildspecOverride"] == event["document"]["request"]["buildspec"]


def test_a_retried_task_asks_for_the_same_build_and_another_execution_for_a_new_one(started):
    from stepdeploy.aws.ledger import ledger

    event = start_event()
    start_build(event)
    start_build(copy.deepcopy(event))  # Lambda's retry, or a redrive of the same execution
    ledger().release_lock("sample-prod", event["execution"]["Id"])  # as Record release does at the end
    other = copy.deepcopy(event)
    other["execution"]["Id"] = event["execution"]["Id"] + "-next"
    other["document"]["lock"]["owner"] = other["execution"]["Id"]
    start_build(other)

    first, retried, another = (call["idempotencyToken"] for call in started)
    assert first == retried and another != first
    assert len(first) <= 64  # CodeBuild's limit


def test_a_build_is_started_only_by_the_stack_lock_s_owner(started):
    from stepdeploy.aws.ledger import ledger

    holder = "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:newer"
    ledger().acquire_lock(stack="sample-prod", owner=holder, commit="b" * 40, requested_at="2026-11-23T18:10:00Z",
                          mode="queued", lease_seconds=600, is_running=lambda arn: True)
    with pytest.raises(StackLocked, match="taken by .*:newer"):
        start_build(start_event())
    assert started == [] and builds_of_project() == []
    assert ledger().lock_holder("sample-prod")["owner"] == holder


def test_a_missing_project_fails_the_step(orchestrator):
    with pytest.raises(ClientError) as caught:
        start_build(start_event())
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
