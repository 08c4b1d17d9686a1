"""Resume wait (resume_wait) against moto: AWS's documented events resume only the matching stored
task token, once; late, repeated and foreign events change nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import Context, load_handler

pytestmark = pytest.mark.handler
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aws_events"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:demo-1"


def aws_event(name: str, **detail: Any) -> dict[str, Any]:
    event = json.loads((FIXTURES / f"{name}.json").read_text())
    event["detail"].update(detail)
    return dict(event)


class FakeStepFunctions:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.gone: set[str] = set()

    def send_task_success(self, taskToken: str, output: str) -> None:  # noqa: N803 - boto3's names
        if taskToken in self.gone:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "timed out"}}, "SendTaskSuccess")
        self.sent.append((taskToken, json.loads(output)))


@pytest.fixture()
def states(orchestrator: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStepFunctions]:
    from stepdeploy.ingress import resume_wait

    fake, real = FakeStepFunctions(), resume_wait.client
    monkeypatch.setattr(resume_wait, "client", lambda service: fake if service == "stepfunctions" else real(service))
    yield fake


def wait(kind: str, keys: list[str], token: str) -> str:
    from stepdeploy.aws.ledger import ledger

    return ledger().put_wait(kind=kind, keys=keys, task_token=token, execution_arn=EXECUTION, state=f"Wait {kind}")


def resume(event: dict[str, Any]) -> dict[str, Any]:
    return dict(load_handler("resume_wait").handler(copy.deepcopy(event), Context()))


def test_a_build_event_resumes_its_wait_once_and_a_late_repeat_is_ignored(states: FakeStepFunctions) -> None:
    build_id = "stepdeploy-build:0b7e1c2d-3f4a-4b5c-8d6e-7f8a9b0c1d2e"
    wait("build", [build_id], "token-build")
    event = aws_event(
        "codebuild-build-state-change",
        **{"build-id": f"arn:aws:codebuild:us-east-1:123456789012:build/{build_id}", "build-status": "FAILED"},
    )

    first = resume(event)
    assert first["resumed"] is True and first["execution"] == EXECUTION
    assert states.sent == [("token-build", {**states.sent[0][1], "resumed_by": "event", "wait": "build",
                                            "key": build_id, "status": "FAILED"})]
    assert resume(event)["resumed"] is False  # redelivered: the token was handed out already
    assert len(states.sent) == 1


def test_a_build_still_running_or_of_another_build_resumes_nothing(states: FakeStepFunctions) -> None:
    wait("build", ["stepdeploy-build:mine"], "token-build")
    running = aws_event("codebuild-build-state-change", **{
        "build-id": "arn:aws:codebuild:us-east-1:123456789012:build/stepdeploy-build:mine",
        "build-status": "IN_PROGRESS"})
    other = aws_event("codebuild-build-state-change", **{
        "build-id": "arn:aws:codebuild:us-east-1:123456789012:build/stepdeploy-build:other"})
    assert resume(running) == {"resumed": False, "reason": "not a final state"}
    assert resume(other)["resumed"] is False
    assert states.sent == []


def test_a_stack_event_must_carry_the_client_request_token_of_the_update(states: FakeStepFunctions) -> None:
    stack_id = "arn:aws:cloudformation:us-east-1:123456789012:stack/sample-prod/5e6f7a8b"
    wait("stack", [f"{stack_id}#stepdeploy-execute-change-set-abc"], "token-stack")
    someone_else = aws_event("cloudformation-stack-status-change", **{
        "stack-id": stack_id, "client-request-token": "Console-UpdateStack-1"})
    in_progress = aws_event("cloudformation-stack-status-change", **{
        "stack-id": stack_id, "client-request-token": "stepdeploy-execute-change-set-abc",
        "status-details": {"status": "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "status-reason": ""}})
    ours = aws_event("cloudformation-stack-status-change", **{
        "stack-id": stack_id, "client-request-token": "stepdeploy-execute-change-set-abc"})

    assert resume(someone_else)["resumed"] is False
    assert resume(in_progress)["resumed"] is False
    assert resume(ours)["resumed"] is True
    assert [token for token, _ in states.sent] == ["token-stack"]


def test_a_shift_resumes_when_its_last_deployment_succeeds_or_any_fails(states: FakeStepFunctions) -> None:
    wait("shift", ["d-GREETER01", "d-COUNTER01"], "token-shift")
    assert resume(aws_event("codedeploy-deployment-state-change", deploymentId="d-GREETER01"))["resumed"] is False
    assert resume(aws_event("codedeploy-deployment-state-change", deploymentId="d-GREETER01"))["resumed"] is False
    assert resume(aws_event("codedeploy-deployment-state-change", deploymentId="d-COUNTER01"))["resumed"] is True

    wait("shift", ["d-GREETER02", "d-COUNTER02"], "token-shift-2")
    failed = aws_event("codedeploy-deployment-state-change", deploymentId="d-COUNTER02", state="FAILURE")
    assert resume(failed)["resumed"] is True
    assert resume(aws_event("codedeploy-deployment-state-change", deploymentId="d-GREETER02"))["resumed"] is False
    assert [token for token, _ in states.sent] == ["token-shift", "token-shift-2"]


def test_only_an_alarm_going_into_alarm_cuts_a_bake_short(states: FakeStepFunctions) -> None:
    wait("bake", ["sample-prod-errors", "sample-prod-latency"], "token-bake")
    ok = aws_event("cloudwatch-alarm-state-change", alarmName="sample-prod-errors")
    ok["detail"]["state"]["value"] = "OK"
    assert resume(ok)["resumed"] is False
    assert resume(aws_event("cloudwatch-alarm-state-change", alarmName="sample-prod-latency"))["resumed"] is True
    assert resume(aws_event("cloudwatch-alarm-state-change", alarmName="sample-prod-errors"))["resumed"] is False
    assert [token for token, _ in states.sent] == ["token-bake"]


def test_a_token_that_timed_out_meanwhile_is_not_an_error(states: FakeStepFunctions) -> None:
    wait("build", ["stepdeploy-build:late"], "token-late")
    states.gone.add("token-late")
    result = resume(aws_event("codebuild-build-state-change", **{
        "build-id": "arn:aws:codebuild:us-east-1:123456789012:build/stepdeploy-build:late"}))
    assert result["resumed"] is False and "TaskTimedOut" in result["reason"]


def test_an_event_of_another_kind_or_shape_is_refused_by_name(states: FakeStepFunctions) -> None:
    s3 = {"id": "1", "source": "aws.s3", "detail-type": "Object Created", "detail": {}}
    with pytest.raises(ValueError, match="cannot resume a wait from a 'aws.s3' 'Object Created' event"):
        resume(s3)
    broken = aws_event("codedeploy-deployment-state-change")
    del broken["detail"]["deploymentId"]
    with pytest.raises(ValueError, match="no deploymentId"):
        resume(broken)


def test_the_sample_event_resumes_the_traffic_shift_it_names(states: FakeStepFunctions) -> None:
    from .conftest import load_event

    sample = load_event("resume_wait")  # events/resume_wait.json, also for `sam local invoke -e`
    assert resume(sample)["resumed"] is False  # nobody waits yet
    wait("shift", [sample["detail"]["deploymentId"]], "token-sample")
    assert resume(sample)["resumed"] is True
    assert [token for token, _ in states.sent] == ["token-sample"]
