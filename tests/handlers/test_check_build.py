"""Check build: a CodeBuild build's state becomes the build piece of the document, or BuildFailed.

moto 5.2.5's CodeBuild answers SUCCEEDED to every BatchGetBuilds, with an artifact location that is
the bucket's name rather than the object's ARN CodeBuild gives: the build states are stubbed with
botocore's Stubber on the CodeBuild client the task uses (the stack lock stays moto's DynamoDB).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from stepdeploy.errors import ArtifactRejected, BuildFailed

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler
BUILD_ID = "stepdeploy-build:4b4f5a1e-0c2f-4d6e-9c1b-1f2e3d4c5b6a"
BUNDLE_KEY = "builds/platform/sample-app/6113728f27ae82c7b1a177c8d03f9e96e0adf246/bundle.zip"
STARTED_LOGS = "https://console.aws.amazon.com/codesuite/codebuild/projects/stepdeploy-build/build/started"
SHA256 = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
LOGS = "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/build"


@pytest.fixture()
def codebuild(orchestrator: dict[str, Any]) -> Iterator[Stubber]:
    from stepdeploy.aws import clients

    with Stubber(clients.client("codebuild")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def started_event() -> dict[str, Any]:
    """The document as Start build left it: the build's id, still in progress."""
    event = load_event("start_build")
    event["document"]["build"] = {
        "build_id": BUILD_ID,
        "status": "IN_PROGRESS",
        "logs_url": STARTED_LOGS,
        "started_at": "2026-11-23T18:00:03.000Z",
    }
    event["execution"]["state"] = "Check build"
    return event


def answer(stubber: Stubber, status: str, **build: Any) -> None:
    stubber.add_response(
        "batch_get_builds",
        {"builds": [{"id": BUILD_ID, "buildStatus": status, **build}]},
        {"ids": [BUILD_ID]},
    )


def check_build(event: dict[str, Any]) -> dict[str, Any]:
    return load_handler("check_build").handler(copy.deepcopy(event), Context())


def test_a_succeeded_build_is_done_with_the_artifact_it_uploaded(codebuild):
    answer(
        codebuild,
        "SUCCEEDED",
        artifacts={"location": f"arn:aws:s3:::stepdeploy-artifacts/{BUNDLE_KEY}", "sha256sum": SHA256.upper(),
                   "md5sum": "0" * 32},
        logs={"deepLink": LOGS},
    )
    build = check_build(started_event())["build"]
    assert build["artifact_sha256"] == SHA256  # what Package artifact checks the object's bytes against
    assert build["done"] is True and build["status"] == "SUCCEEDED"
    assert build["artifact"] == {"bucket": "stepdeploy-artifacts", "key": BUNDLE_KEY}  # what Package artifact reads
    assert build["logs_url"] == LOGS
    assert build["finished_at"] >= build["started_at"] == "2026-11-23T18:00:03.000Z"


def test_a_build_in_progress_is_not_done_and_keeps_its_logs_link(codebuild):
    answer(codebuild, "IN_PROGRESS", currentPhase="BUILD")
    out = check_build(started_event())
    build = out["build"]
    assert build["done"] is False and build["status"] == "IN_PROGRESS"
    assert "artifact" not in build and "finished_at" not in build
    assert build["logs_url"] == STARTED_LOGS  # CodeBuild gave none this time: the one Start build had


@pytest.mark.parametrize("status", ["FAILED", "FAULT", "STOPPED", "TIMED_OUT"])
def test_a_build_that_did_not_succeed_is_build_failed_naming_the_phase_and_its_message(codebuild, status):
    answer(
        codebuild,
        status,
        phases=[
            {"phaseType": "INSTALL", "phaseStatus": "SUCCEEDED"},
            {
                "phaseType": "BUILD",
                "phaseStatus": status,
                "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "sam build: exit status 1"}],
            },
        ],
        logs={"deepLink": LOGS},
    )
    with pytest.raises(BuildFailed) as caught:
        check_build(started_event())
    message = str(caught.value)
    assert message.startswith(f"build {BUILD_ID} ended {status} in phase BUILD")
    assert "sam build: exit status 1" in message and message.endswith(f"Logs: {LOGS}")


def test_a_succeeded_build_without_an_artifact_is_build_failed(codebuild):
    answer(codebuild, "SUCCEEDED", artifacts={"location": ""})
    with pytest.raises(BuildFailed, match=f"build {BUILD_ID} succeeded but uploaded no artifact"):
        check_build(started_event())


@pytest.mark.parametrize(
    "location",
    [
        "arn:aws:s3:::stepdeploy-artifacts/builds/other/repo/6113728f27ae82c7b1a177c8d03f9e96e0adf246/x/bundle.zip",
        "arn:aws:s3:::stepdeploy-artifacts/builds/platform/sample-app/bundle.zip",  # the project's default path
        "arn:aws:s3:::elsewhere/" + BUNDLE_KEY,
    ],
)
def test_an_artifact_outside_the_repositorys_build_prefix_is_refused(codebuild, location):
    answer(codebuild, "SUCCEEDED", artifacts={"location": location, "sha256sum": SHA256})
    with pytest.raises(ArtifactRejected) as refused:
        check_build(started_event())
    message = str(refused.value)
    assert BUILD_ID in message and location.removeprefix("arn:aws:s3:::") in message
    assert "expected it under s3://stepdeploy-artifacts/builds/platform/sample-app/6113728f" in message


@pytest.mark.parametrize("reported", [None, "", "d7a8fbb3", "not-a-digest" * 6])
def test_a_succeeded_build_without_a_usable_sha256sum_is_refused(codebuild, reported):
    artifacts = {"location": f"arn:aws:s3:::stepdeploy-artifacts/{BUNDLE_KEY}"}
    if reported is not None:
        artifacts["sha256sum"] = reported
    answer(codebuild, "SUCCEEDED", artifacts=artifacts)
    with pytest.raises(ArtifactRejected) as refused:
        check_build(started_event())
    message = str(refused.value)
    assert message.startswith(f"build {BUILD_ID}: CodeBuild reports no usable artifacts.sha256sum")
    assert BUNDLE_KEY in message and "expected the 64-hex-digit sha256" in message


def test_a_build_codebuild_no_longer_knows_is_build_failed(codebuild):
    codebuild.add_response("batch_get_builds", {"builds": [], "buildsNotFound": [BUILD_ID]}, {"ids": [BUILD_ID]})
    with pytest.raises(BuildFailed, match=f"build {BUILD_ID} no longer exists"):
        check_build(started_event())


def test_without_start_build_s_result_nothing_is_asked(codebuild):
    event = started_event()
    del event["document"]["build"]
    with pytest.raises(ValueError, match=r"needs the Start build step's result in \$.build"):
        check_build(event)
