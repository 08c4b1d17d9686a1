"""Recovery you can trust, on the real state machine and handlers (a local cloud of this module's own).

- A redrive after newer code went live ends Superseded (production and the ledger untouched), and the CLI
  refuses it first, with the reason; a redriven replay is exempt but is never recorded Deployed unless its
  versions serve the traffic.
- A redrive after a persistent fault during "Wait for traffic shift" (the finaliser stopped the shift) ends
  Deployed, as a clean run would.
- A push queued behind an approval waits past the old 55-minute limit, in "Wait for lock" (no compute,
  no retries), then deploys; in both concurrency modes.
- A waiter is woken, not left to its next check: a newer push supersedes it at once, and the holder's end
  lets the next one in at once (the test all but stops the clock, so that only a wake-up can explain it).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from stepdeploy.aws.ledger import Ledger
from stepdeploy_cli.demo.runner import GREETER_V2, STACK
from stepdeploy_cli.main import app
from stepdeploy_cli.recovery import replay_input
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
from stepdeploy_localcloud.clock import CLOCK

from .test_paths import APPROVAL_CONFIG, CONFIG, Machine
from .test_paths import machine as machine  # noqa: F401 - the module-scoped fixture: a cloud per module

pytestmark = pytest.mark.statemachine

PERSISTENT = 20  # more failures than any Retry's attempts: the execution fails at the state


def ledger_of(machine: Machine) -> Ledger:
    return Ledger(machine.cloud.orchestrator.table_name, dynamodb_resource=machine.cloud.resource("dynamodb"))  # type: ignore[union-attr]


def fail_persistently(machine: Machine, function: str, start: Any) -> str:
    lambda_runtime.inject_fault(machine.function(function), "service_error", times=PERSISTENT)
    try:
        arn = start()
        described = machine.finish(arn, timeout=180)
    finally:
        lambda_runtime.clear_faults()
    assert described["status"] == "FAILED" and described["error"] == "Lambda.ServiceException", described
    assert machine.path(arn)[-1] == machine.state_of(function)
    wait_for_the_finaliser(machine, arn)
    return arn


def fail_while_shifting(machine: Machine, start: Any) -> str:
    """A persistent fault in "Wait for traffic shift" while the canary is under way (the fault is injected
    once the execution has passed the stack update, whose wait runs the same function)."""
    arn = start()
    deadline = time.monotonic() + 120
    while "Publish versions" not in machine.path(arn):
        assert time.monotonic() < deadline, "the execution never reached Publish versions"
        time.sleep(0.05)
    lambda_runtime.inject_fault(machine.function("WaitForEventFunction"), "service_error", times=PERSISTENT)
    try:
        described = machine.finish(arn, timeout=180)
    finally:
        lambda_runtime.clear_faults()
    assert described["status"] == "FAILED" and described["error"] == "Lambda.ServiceException", described
    assert machine.path(arn)[-1] == "Wait for traffic shift"
    wait_for_the_finaliser(machine, arn)
    return arn


def wait_for_the_finaliser(machine: Machine, arn: str, timeout: float = 30.0) -> None:
    """The finaliser runs on the execution's FAILED event: it records the failure and frees the lock."""
    ledger = ledger_of(machine)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = ledger.release_of_execution(arn)
        if record and machine.lock_holder() is None:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the finaliser did not finish {arn}")


def cli(machine: Machine, *args: str) -> Any:
    env = {
        "AWS_ENDPOINT_URL": machine.cloud.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_PROFILE": None,
        "STEPDEPLOY_STACK": machine.cloud.orchestrator.stack_name, "COLUMNS": "220",  # type: ignore[union-attr]
    }
    return CliRunner().invoke(app, list(args), env=env)


def greeting(text: str) -> dict[str, str]:
    return {"greeter/app.py": GREETER_V2.replace("Welcome back.", text)}


# --- 1. a redrive after newer code went live -------------------------------------------------------------
@pytest.mark.parametrize("function", ["CreateChangeSetFunction", "PublishVersionsFunction"])
def test_a_redrive_after_a_newer_deployment_ends_superseded_and_leaves_production_alone(
    machine: Machine, function: str
) -> None:
    demo = machine.demo
    older = fail_persistently(machine, function, lambda: demo.push(f"Older, {function}", greeting(f"older {function}")))
    newer = demo.push(f"Newer, {function}", greeting(f"newer {function}"))
    assert machine.finish(newer, timeout=180)["status"] == "SUCCEEDED"
    live = demo.alias_versions()

    refused = cli(machine, "redrive", older.rsplit(":", 1)[-1])
    assert refused.exit_code == 1, refused.output
    assert "is not worth redriving" in refused.stderr and "The redrive would end Superseded" in refused.stderr
    assert f"stepdeploy replay {older.rsplit(':', 1)[-1]}" in refused.stderr

    # The runtime is the guard: a redrive that goes around the CLI ends Superseded too.
    machine.sfn.redrive_execution(executionArn=older)
    redriven = machine.finish(older, timeout=180)
    path = machine.path(older)
    assert redriven["status"] == "SUCCEEDED", redriven.get("cause")
    assert path[-3:] == [machine.state_of(function), "Record superseded", "Superseded"], path[-6:]
    cause = json.loads(redriven["output"])["error"]["Cause"]
    assert "redriven after" in cause and "not deploying" in cause, cause
    assert demo.alias_versions() == live
    record = ledger_of(machine).release_of_execution(older)
    assert record is not None and record["outcome"] == "Superseded"
    assert ledger_of(machine).release_of_execution(newer)["outcome"] == "Deployed"  # type: ignore[index]
    assert machine.lock_holder() is None


def test_a_redriven_replay_is_not_recorded_deployed_when_newer_code_serves_the_traffic(machine: Machine) -> None:
    demo = machine.demo
    first = machine.upload("replayed later")
    assert machine.finish(first)["status"] == "SUCCEEDED"
    assert machine.finish(machine.upload("after the first"))["status"] == "SUCCEEDED"

    def replay() -> str:  # as `stepdeploy replay` starts it: deploys the first upload's code on purpose
        body = replay_input(machine.sfn.describe_execution(executionArn=first), None, datetime.now(UTC))
        arn = str(machine.sfn.start_execution(stateMachineArn=machine.cloud.orchestrator.state_machine_arn,  # type: ignore[union-attr]
                                              name=f"replay-of-{first.rsplit(':', 1)[-1]}"[:80],
                                              input=json.dumps(body))["executionArn"])
        demo.seen.add(arn)  # not the next upload's execution
        return arn

    replayed = fail_persistently(machine, "PublishVersionsFunction", replay)
    newest = machine.upload("newest")
    described = machine.finish(newest)
    assert described["status"] == "SUCCEEDED", (machine.path(newest)[-5:], described.get("cause"))
    live = demo.alias_versions()

    machine.sfn.redrive_execution(executionArn=replayed)  # a replay is exempt from the redrive's checks...
    redriven = machine.finish(replayed, timeout=180)
    assert machine.path(replayed)[-2:] == ["Record release", "Deployment failed"]
    assert redriven["status"] == "FAILED" and redriven["error"] == "ReleaseNotServed"  # ...but not recorded Deployed
    record = ledger_of(machine).release_of_execution(replayed)
    assert record is not None and record["outcome"] == "NotServed", record
    assert "no longer carries this execution's code" in record["cause"]
    assert demo.alias_versions() == live
    assert machine.lock_holder() is None


# --- 2. a redrive after a fault during the traffic shift -------------------------------------------------
def test_a_redrive_after_a_fault_during_the_traffic_shift_ends_deployed(machine: Machine) -> None:
    before = machine.demo.alias_versions()["GreeterFunction"]
    # The shift is half done only while the execution waits for it: Check traffic shift runs after its events.
    arn = fail_while_shifting(machine, lambda: machine.upload("shift fault"))
    stopped = ledger_of(machine).stopped_deployments(arn)
    assert len(stopped) == 1  # the finaliser stopped the half-done shift, and said so
    deadline = time.monotonic() + 60
    while machine.demo.alias_versions()["GreeterFunction"] != before and time.monotonic() < deadline:
        time.sleep(0.1)  # the stop's rollback puts the alias back
    assert machine.demo.alias_versions()["GreeterFunction"] == before

    machine.sfn.redrive_execution(executionArn=arn)
    redriven = machine.finish(arn, timeout=180)
    assert redriven["status"] == "SUCCEEDED", redriven.get("cause")
    assert machine.path(arn)[-3:] == ["Record release", "Prune versions", "Deployed"]
    shift = json.loads(redriven["output"])["shift"]
    restarted = [d["deployment_id"] for d in shift["deployments"]]
    assert len(restarted) == 1 and restarted[0] not in stopped  # a new deployment, recorded in the document
    after = machine.demo.alias_versions()["GreeterFunction"]
    assert int(after) > int(before)
    record = ledger_of(machine).release_of_execution(arn)
    assert record is not None and record["outcome"] == "Deployed" and record["deployments"] == restarted
    assert machine.lock_holder() is None


# --- 4. a queued push waits as long as the holder may ---------------------------------------------------
def acquire_lock_inputs(machine: Machine, arn: str) -> list[dict[str, Any]]:
    events = [e for page in machine.sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
              for e in page["events"]]
    return [json.loads(e["stateEnteredEventDetails"]["input"]) for e in events
            if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "Acquire lock"]


def waited_in_wait_for_lock(machine: Machine, arn: str) -> float:
    """Virtual seconds spent in "Wait for lock" waits that ran to their time-out (as Acquire lock saw them)."""
    waits = [document["lock_wait"] for document in acquire_lock_inputs(machine, arn) if "lock_wait" in document]
    return float(sum(wait["seconds"] for wait in waits if "timed_out" in wait))


@pytest.mark.parametrize("mode", ["superseded", "queued"])
def test_a_push_queued_behind_a_long_approval_waits_past_55_minutes_then_deploys(machine: Machine, mode: str) -> None:
    concurrency = "    concurrency: queued\n" if mode == "queued" else ""
    long_approval = APPROVAL_CONFIG.replace("timeout_minutes: 30", "timeout_minutes: 1440")
    where = "    environment: production\n"
    holder_config = long_approval.replace(where, where + concurrency)
    waiter_config = CONFIG.replace(where, where + concurrency)
    holder = machine.upload(f"holder, {mode}", holder_config)
    approval = machine.waiting_for_approval(holder)
    waiter = machine.upload(f"waiter, {mode}", waiter_config)
    machine.waiting_for_lock(waiter)

    speed = CLOCK.speed
    CLOCK.set_speed(1200)  # an hour of waiting in about three real seconds
    try:
        deadline = time.monotonic() + 120
        while waited_in_wait_for_lock(machine, waiter) < 3600 and time.monotonic() < deadline:
            assert machine.sfn.describe_execution(executionArn=waiter)["status"] == "RUNNING"
            time.sleep(0.2)
    finally:
        CLOCK.set_speed(speed)
    waited = waited_in_wait_for_lock(machine, waiter)
    assert waited >= 3600, waited  # the old Retry on StackLocked gave up after about 55 minutes
    assert machine.sfn.describe_execution(executionArn=waiter)["status"] == "RUNNING"
    assert machine.lock_holder()["owner"] == holder  # type: ignore[index]

    machine.sfn.send_task_success(taskToken=approval["task_token"], output=json.dumps({"approved": True, "by": "ada"}))
    assert machine.finish(holder, timeout=180)["status"] == "SUCCEEDED"
    done = machine.finish(waiter, timeout=180)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    path = machine.path(waiter)
    assert path[-1] == "Deployed"
    events = machine.sfn.get_execution_history(executionArn=waiter, maxResults=1000)["events"]
    assert not [e for e in events if e["type"] == "TaskFailed"]  # waiting is not a failure retried
    loops = path.count("Wait for lock")
    assert 5 <= loops <= 80, loops  # the interval grows with the wait: cheap, and bounded
    assert ledger_of(machine).release_of_execution(waiter)["outcome"] == "Deployed"  # type: ignore[index]
    assert machine.lock_holder() is None


def test_the_holder_of_a_long_approval_keeps_the_lock_for_as_long(machine: Machine) -> None:
    long_approval = APPROVAL_CONFIG.replace("timeout_minutes: 30", "timeout_minutes: 10080")  # a week
    holder = machine.upload("a week to approve", long_approval)
    approval = machine.waiting_for_approval(holder)
    lock = machine.lock_holder()
    assert lock is not None and lock["owner"] == holder
    assert lock["lease_expires_at"] - time.time() >= 7 * 86400  # a queued push waits that long, no longer
    machine.sfn.send_task_failure(taskToken=approval["task_token"], error="ApprovalRejected", cause="test")
    assert machine.finish(holder)["status"] == "FAILED"
    assert machine.lock_holder() is None
    assert lock["pk"] == f"stack#{STACK}"


# --- 5. a waiter is woken at once --------------------------------------------------------------------
def asleep(machine: Machine, arn: str, timeout: float = 60.0) -> None:
    """Until the execution sleeps in "Wait for lock" with its task token in the ledger (so that the wake-up
    tested is the waker's, not the waiter's own check when it registers)."""
    machine.waiting_for_lock(arn)
    deadline = time.monotonic() + timeout
    while ledger_of(machine).lock_waiter(STACK, arn) is None:
        assert time.monotonic() < deadline, f"{arn} never registered its wait"
        time.sleep(0.05)


def test_a_waiter_is_woken_at_once_by_a_newer_push_and_by_the_holders_end(machine: Machine) -> None:
    long_approval = APPROVAL_CONFIG.replace("timeout_minutes: 30", "timeout_minutes: 1440")
    holder = machine.upload("holder, wake-ups", long_approval)
    approval = machine.waiting_for_approval(holder)
    speed = CLOCK.speed
    CLOCK.set_speed(0.001)  # all but stopped: a 10-second "Wait for lock" would last about three real hours
    try:
        older = machine.upload("older waiter")
        asleep(machine, older)
        newer = machine.upload("newer waiter")
        superseded = machine.finish(older, timeout=60)  # a newer push registered: it ends now, not at its check
        assert superseded["status"] == "SUCCEEDED", superseded.get("cause")
        assert machine.path(older)[-4:] == ["Wait for lock", "Acquire lock", "Record superseded", "Superseded"]
        assert acquire_lock_inputs(machine, older)[-1]["lock_wait"]["woken"]["by"] == newer
        assert ledger_of(machine).release_of_execution(older)["outcome"] == "Superseded"  # type: ignore[index]

        asleep(machine, newer)
        machine.sfn.send_task_failure(taskToken=approval["task_token"], error="ApprovalRejected", cause="not now")
        assert machine.finish(holder, timeout=60)["status"] == "FAILED"
        deadline = time.monotonic() + 60
        while (machine.lock_holder() or {}).get("owner") != newer and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (machine.lock_holder() or {}).get("owner") == newer  # the holder's end woke it
        woken = [d["lock_wait"] for d in acquire_lock_inputs(machine, newer) if "woken" in d.get("lock_wait", {})]
        assert [w["woken"]["by"] for w in woken] == [holder]
        assert not [d for d in acquire_lock_inputs(machine, newer) if "timed_out" in d.get("lock_wait", {})]
        assert ledger_of(machine).lock_waiters(STACK) == []
    finally:
        CLOCK.set_speed(speed)
    done = machine.finish(newer, timeout=180)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert machine.path(newer)[-1] == "Deployed"
