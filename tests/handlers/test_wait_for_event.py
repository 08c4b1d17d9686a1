"""Wait for build / stack / traffic shift / while baking (wait_for_event) against moto: the task token is
stored under the operation's keys, and an operation already over (or an alarm already firing)
resumes it at once, once."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from .conftest import Context, load_event, load_handler
from .test_resume_wait import FakeStepFunctions

pytestmark = pytest.mark.handler
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAbYb2k4e0Qdq7X0dExampleWaitToken"


@pytest.fixture()
def states(orchestrator: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStepFunctions]:
    from stepdeploy.tasks import wait_for_event

    fake, real = FakeStepFunctions(), wait_for_event.client
    monkeypatch.setattr(wait_for_event, "client", lambda service: fake if service == "stepfunctions" else real(service))
    yield fake


def wait_event(kind: str, source: str = "check_alarms", **pieces: Any) -> dict[str, Any]:
    event = load_event(source)
    event["document"].update(pieces)
    event["execution"].update(state=f"Wait for {kind}", task_token=TOKEN)
    event["wait"] = kind
    return event


def run(event: dict[str, Any]) -> dict[str, Any]:
    return dict(load_handler("wait_for_event").handler(copy.deepcopy(event), Context()))


def bake(alarms: list[str]) -> dict[str, Any]:
    return {"until": "2026-11-23T18:13:10Z", "remaining_seconds": 300.0, "checked_at": "2026-11-23T18:08:10Z",
            "alarms": alarms}


def test_a_bake_stores_the_token_under_its_alarms_and_returns_at_once(states: FakeStepFunctions) -> None:
    from stepdeploy.aws.ledger import ledger

    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="sample-prod-errors", Namespace="AWS/Lambda", MetricName="Errors",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
                                ComparisonOperator="GreaterThanThreshold")
    result = run(wait_event("bake", bake=bake(["sample-prod-errors"])))

    assert result == {"waiting": True, "kind": "bake", "keys": ["sample-prod-errors"],
                      "deadline": "2026-11-23T18:13:10Z"}
    assert states.sent == []
    resumed = ledger().resolve_wait("bake", "sample-prod-errors", ends_wait=True)
    assert resumed is not None and resumed["task_token"] == TOKEN and resumed["state"] == "Wait for bake"


def test_an_alarm_already_in_alarm_resumes_the_bake_at_once(states: FakeStepFunctions) -> None:
    from stepdeploy.aws.ledger import ledger

    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="sample-prod-errors", Namespace="AWS/Lambda", MetricName="Errors",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="sample-prod-errors", StateValue="ALARM", StateReason="errors")

    result = run(wait_event("bake", bake=bake(["sample-prod-errors"])))

    assert result["waiting"] is False
    assert states.sent == [(TOKEN, {"resumed_by": "check", "wait": "bake", "keys": ["sample-prod-errors"]})]
    # No event can resume it a second time.
    assert ledger().resolve_wait("bake", "sample-prod-errors", ends_wait=True) is None


def test_a_stack_update_over_before_the_token_was_stored_is_resumed_by_the_check(states: FakeStepFunctions) -> None:
    cfn = boto3.client("cloudformation")
    stack_id = cfn.create_stack(StackName="sample-prod", TemplateBody=json.dumps(
        {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}))["StackId"]
    event = wait_event("stack", "check_stack")
    event["document"]["stack"].update(stack_id=stack_id, client_request_token="stepdeploy-execute-change-set-1")

    result = run(event)

    assert result["waiting"] is False and result["keys"] == [f"{stack_id}#stepdeploy-execute-change-set-1"]
    assert [token for token, _ in states.sent] == [TOKEN]


def test_a_shift_waits_only_for_its_deployments_still_running(states: FakeStepFunctions) -> None:
    from stepdeploy.models import Document
    from stepdeploy.tasks.wait_for_event import operation_of

    event = load_event("check_traffic_shift")
    event["document"]["shift"]["deployments"].append(
        {"logical_id": "Counter", "function_name": "sample-prod-Counter-1", "deployment_id": "d-DONE00001",
         "status": "Succeeded"})
    operation = operation_of(Document.model_validate(event["document"]), "shift")
    assert operation.keys == ["d-ABCDEF123"]


def test_the_contract_is_checked_by_name(states: FakeStepFunctions) -> None:
    no_token = wait_event("bake", bake=bake([]))
    del no_token["execution"]["task_token"]
    with pytest.raises(ValueError, match=r"must pass \$\$.Task.Token"):
        run(no_token)
    with pytest.raises(ValueError, match=r"needs \$.stack.stack_id and \$.stack.client_request_token"):
        run(wait_event("stack", "check_stack"))
    bad_kind = wait_event("bake", bake=bake([]))
    bad_kind["wait"] = "coffee"
    with pytest.raises(ValueError, match="wait"):
        run(bad_kind)


def test_the_sample_event_waits_for_its_traffic_shift(states: FakeStepFunctions) -> None:
    event = load_event("wait_for_event")  # events/wait_for_event.json, also for `sam local invoke -e`
    operation = run_operation_only(event)
    assert operation.kind == "shift" and operation.keys == ["d-ABCDEF123"]


def run_operation_only(event: dict[str, Any]) -> Any:
    from stepdeploy.tasks.wait_for_event import WaitRequest, operation_of

    request = WaitRequest.model_validate(event)
    return operation_of(request.document, request.wait)


def test_the_first_bake_wait_watches_the_alarms_the_shift_was_gated_by(states: FakeStepFunctions) -> None:
    shift = load_event("check_alarms")["document"]["shift"]
    shift.update(alarms=["sample-prod-errors"], bake_seconds=120)
    operation = run_operation_only(wait_event("bake", shift=shift))  # no $.bake yet: right after the shift
    assert operation.keys == ["sample-prod-errors"] and operation.deadline is None
    no_shift = wait_event("bake")
    del no_shift["document"]["shift"]
    with pytest.raises(ValueError, match=r"needs the traffic shift's result in \$.shift"):
        run_operation_only(no_shift)


def test_a_release_step_wait_is_resumed_at_once_by_a_command_written_before_it(orchestrator, monkeypatch):
    """Wait for release step: keyed by the stack; a command already in the control record resumes it here."""
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.models import Document, ExecutionContext
    from stepdeploy.tasks import wait_for_event as module

    resumed: list[str] = []
    monkeypatch.setattr(module, "resume", lambda token, *, by, operation: resumed.append(by))
    document = Document.model_validate({
        **load_event("wait_for_event")["document"],
        "progress": {"steps": [10, 100], "pause_seconds": 60},
    })
    stack = document.require_request().stack
    execution = ExecutionContext.model_validate({"Id": "arn:aws:states:us-east-1:123456789012:execution:x:e1",
                                                 "state": "Wait for release step", "task_token": "token-1"})
    ledger().start_progress(stack, execution.id, {"status": "running"})
    waiting = module.wait_for_event(module.WaitRequest(document=document, execution=execution, wait="release"))
    assert waiting["waiting"] and waiting["keys"] == [stack] and resumed == []
    assert ledger().resolve_wait("release", stack, ends_wait=True)["task_token"] == "token-1"  # what the CLI wakes

    ledger().command_progress(stack, execution.id, {"verb": "pause", "by": "ada"})
    second = execution.model_copy(update={"task_token": "token-2"})
    answer = module.wait_for_event(module.WaitRequest(document=document, execution=second, wait="release"))
    assert not answer["waiting"] and resumed == ["check"]


def test_an_alarm_of_a_running_release_step_ends_its_wait(orchestrator):
    """A release step's wait is keyed by its stack and, while it runs, by its alarms too (kind bake)."""
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.models import Document, ExecutionContext
    from stepdeploy.tasks import wait_for_event as module

    document = Document.model_validate({
        **load_event("wait_for_event")["document"],
        "progress": {"steps": [10, 100], "pause_seconds": 60, "alarms": ["orders-errors"]},
    })
    stack = document.require_request().stack
    execution = ExecutionContext.model_validate({"Id": "arn:aws:states:us-east-1:123456789012:execution:x:e2",
                                                 "state": "Wait for release step", "task_token": "token-3"})
    ledger().start_progress(stack, execution.id, {"status": "running"})
    waiting = module.wait_for_event(module.WaitRequest(document=document, execution=execution, wait="release"))
    assert waiting["waiting"] and waiting["also"] == {"bake": ["orders-errors"]}
    woken = ledger().resolve_wait("bake", "orders-errors", ends_wait=True)
    assert woken is not None and woken["task_token"] == "token-3"
    assert ledger().resolve_wait("release", stack, ends_wait=True) is None  # one wake, every pointer gone

    paused = document.model_copy(update={"progress": document.progress.model_copy(update={"status": "paused"})})
    operation = module.operation_of(paused, "release")
    assert operation.also == {}  # paused: a person decides, an alarm does not cut the wait
