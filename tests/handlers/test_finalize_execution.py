"""Finalize execution against moto's DynamoDB: an execution that ended outside the Catch path (retries
exhausted, timed out, stopped) still gets its ledger entry, gives its stack's lock back and leaves no
traffic shift running.

The execution's history and CodeDeploy are stubbed with botocore's Stubber on the clients the task
uses: moto's GetExecutionHistory answers a fixed history, and moto has no StopDeployment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:demo-1"
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
STARTED_MS = 1795456801000  # 2026-11-23T18:00:01Z
STOPPED_MS = 1795458601000  # 2026-11-23T18:30:01Z


@pytest.fixture()
def stubbed(orchestrator: dict[str, Any]) -> Iterator[dict[str, Stubber]]:
    from stepdeploy.aws import clients

    stubbers = {service: Stubber(clients.client(service)) for service in ("stepfunctions", "codedeploy")}
    for stubber in stubbers.values():
        stubber.activate()
    yield stubbers
    for stubber in stubbers.values():
        stubber.deactivate()
        stubber.assert_no_pending_responses()


def locked(execution: str = EXECUTION) -> None:
    """The execution took the stack's lock (Acquire lock), then stopped without Record release."""
    from stepdeploy.aws.ledger import ledger

    ledger().acquire_lock(stack="sample-prod", owner=execution, commit=COMMIT, requested_at="2026-11-23T18:00:01Z",
                          mode="superseded", lease_seconds=600, is_running=lambda arn: True)


def status_change(status: str, execution: str = EXECUTION, **detail: Any) -> dict[str, Any]:
    """Step Functions' "Execution Status Change" event, as EventBridge delivers it."""
    push = load_event("start_build")["document"]["event"]
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-23T18:30:01Z",
        "region": "us-east-1",
        "resources": [execution],
        "detail": {
            "executionArn": execution,
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:stepdeploy-deploy",
            "name": execution.rsplit(":", 1)[-1],
            "status": status,
            "startDate": STARTED_MS,
            "stopDate": STOPPED_MS,
            "input": json.dumps({"source": "ghe", "event": push}),
            "error": "States.Timeout",
            "cause": "Check traffic shift timed out",
            **detail,
        },
    }


def history(stubber: Stubber, document: dict[str, Any], execution: str = EXECUTION) -> None:
    """The execution's history, newest first: the last task state entered, with its input."""
    stubber.add_response(
        "get_execution_history",
        {
            "events": [
                {
                    "timestamp": datetime(2026, 11, 23, 18, 20, tzinfo=UTC),
                    "type": "TaskStateEntered",
                    "id": 42,
                    "previousEventId": 41,
                    "stateEnteredEventDetails": {"name": "Check traffic shift", "input": json.dumps(document)},
                }
            ]
        },
        {"executionArn": execution, "reverseOrder": True, "maxResults": 200, "includeExecutionData": True},
    )


def finalize(event: dict[str, Any]) -> dict[str, Any]:
    return load_handler("finalize_execution").handler(event, Context())


def test_a_timed_out_execution_is_recorded_unlocked_and_its_traffic_shift_stopped(stubbed):
    from stepdeploy.aws.ledger import ledger

    locked()
    shifting = load_event("check_traffic_shift")["document"]
    assert not shifting["shift"]["done"]
    (deployment,) = [d["deployment_id"] for d in shifting["shift"]["deployments"]]
    history(stubbed["stepfunctions"], shifting)
    stubbed["codedeploy"].add_response(
        "stop_deployment", {"status": "Pending"}, {"deploymentId": deployment, "autoRollbackEnabled": True}
    )

    waiter = f"{EXECUTION}-waiting"  # in "Wait for lock": woken now, not at its next check
    ledger().add_lock_waiter("sample-prod", waiter, {"task_token": "token-of-the-waiter", "mode": "superseded",
                                                     "requested_at": "2026-11-23T18:10:00Z"}, 600)
    stubbed["stepfunctions"].add_response("send_task_success", {}, {
        "taskToken": "token-of-the-waiter",
        "output": json.dumps({"by": EXECUTION, "reason": f"{EXECUTION} ended TIMED_OUT"})})

    out = finalize(status_change("TIMED_OUT"))
    woken = out.pop("woken")
    assert out == {"finalized": True, "recorded": True, "lock_released": True, "stopped_deployments": [deployment]}
    assert woken == [waiter] and ledger().lock_waiters("sample-prod") == []
    assert ledger().lock_holder("sample-prod") is None
    (release,) = ledger().releases_of("sample-prod")
    assert release["outcome"] == "TimedOut" and release["execution_arn"] == EXECUTION
    assert (release["repository"], release["commit"], release["environment"]) == (
        "platform/sample-app",
        COMMIT,
        "production",
    )
    assert (release["error"], release["cause"]) == ("States.Timeout", "Check traffic shift timed out")
    assert (release["started_at"], release["ended_at"]) == ("2026-11-23T18:00:01.000Z", "2026-11-23T18:30:01.000Z")
    assert release["source"] == "ghe" and release["redrivable"] is True


def test_a_second_delivery_records_nothing_more(stubbed):
    from stepdeploy.aws.ledger import ledger

    locked()
    document = load_event("execute_change_set")["document"]  # no traffic shift to stop
    history(stubbed["stepfunctions"], document)
    first = finalize(status_change("FAILED"))
    history(stubbed["stepfunctions"], document)
    again = finalize(status_change("FAILED"))
    assert (first["recorded"], first["lock_released"]) == (True, True)
    assert (again["recorded"], again["lock_released"]) == (False, False)
    assert [r["outcome"] for r in ledger().releases_of("sample-prod")] == ["Failed"]


def test_what_record_release_wrote_is_kept(stubbed):
    from stepdeploy.aws.ledger import ledger

    locked()
    ledger().record_release({"stack": "sample-prod", "execution_arn": EXECUTION, "execution_name": "demo-1",
                             "started_at": "2026-11-23T18:00:01.000Z", "repository": "platform/sample-app",
                             "commit": COMMIT, "outcome": "BuildFailed"})
    history(stubbed["stepfunctions"], load_event("execute_change_set")["document"])
    out = finalize(status_change("ABORTED"))
    assert out["recorded"] is False and out["lock_released"] is True
    assert [r["outcome"] for r in ledger().releases_of("sample-prod")] == ["BuildFailed"]


@pytest.mark.parametrize(
    ("status", "execution", "reason"),
    [
        ("SUCCEEDED", EXECUTION, "status SUCCEEDED needs nothing"),
        ("RUNNING", EXECUTION, "status RUNNING needs nothing"),
        ("FAILED", EXECUTION.replace(":demo-1", ":never-locked"), "the execution never took a stack's lock"),
    ],
)
def test_executions_that_need_nothing_are_left_alone(stubbed, status, execution, reason):
    from stepdeploy.aws.ledger import ledger

    locked()
    out = finalize(status_change(status, execution))
    assert out == {"finalized": False, "reason": reason}
    assert ledger().lock_holder("sample-prod")["owner"] == EXECUTION
    assert ledger().releases_of("sample-prod") == []
