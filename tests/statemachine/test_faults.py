"""Faults and long waits on the real state machine, on a local cloud of their own.

Transient faults are absorbed by Retry; a persistent one fails the execution at its state (not
through the Catch path), the finaliser frees the lock, and a redrive ends as a clean run would.
"""

from __future__ import annotations

import time

import pytest

from stepdeploy_cli.demo.runner import GREETER_V2, SAMPLE_APP
from stepdeploy_localcloud.awslambda import runtime as lambda_runtime
from stepdeploy_localcloud.cloudformation import api as cloudformation

from .test_paths import Machine
from .test_paths import machine as machine  # noqa: F401 - the module-scoped fixture: a cloud per module

pytestmark = pytest.mark.statemachine


POLLING_FUNCTIONS = ("CheckBuildFunction", "CheckChangeSetFunction", "CheckStackFunction",
                     "CheckTrafficShiftFunction", "CheckAlarmsFunction")


def _set_poll_budget(machine: Machine, seconds: str) -> None:
    lam = machine.cloud.client("lambda")
    for logical_id in POLLING_FUNCTIONS:
        name = machine.function(logical_id)
        variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        lam.update_function_configuration(FunctionName=name,
                                          Environment={"Variables": {**variables, "POLL_BUDGET_SECONDS": seconds}})


def test_waits_longer_than_a_polling_budget_loop_through_the_wait_states(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A build that sleeps, a change set and a stack update that take four AWS minutes, a five-minute
    # canary and a bake, and checks that give up at once, as a check would after its ten-minute budget.
    buildspec = (SAMPLE_APP / "buildspec.yml").read_text()
    buildspec = buildspec.replace("    commands:\n", "    commands:\n      - sleep 3\n", 1)
    monkeypatch.setattr(cloudformation, "CHANGE_SET_VIRTUAL_SECONDS", 240.0)
    monkeypatch.setattr(cloudformation, "STACK_OPERATION_VIRTUAL_SECONDS", 240.0)
    _set_poll_budget(machine, "0")
    try:
        pushed = machine.demo.push("Long waits", {"greeter/app.py": GREETER_V2.replace("Welcome back.", "slow"),
                                                  "buildspec.yml": buildspec})
        assert machine.finish(pushed)["status"] == "SUCCEEDED"
    finally:
        _set_poll_budget(machine, "30")
    path = machine.path(pushed)
    for wait in ("Wait for build", "Wait for change set", "Wait for stack", "Wait for traffic shift",
                 "Wait while baking"):
        assert wait in path, f"{wait} not in {path[:14]}"


@pytest.mark.parametrize(
    "function", ["CreateChangeSetFunction", "PublishVersionsFunction", "StartTrafficShiftFunction"]
)
def test_transient_faults_are_absorbed_by_retry(machine: Machine, function: str) -> None:
    lambda_runtime.inject_fault(machine.function(function), "throttle", times=2)
    try:
        arn = machine.upload(f"throttled-{function}")
        described = machine.finish(arn)
    finally:
        lambda_runtime.clear_faults()
    assert described["status"] == "SUCCEEDED", described.get("cause")
    events = machine.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert machine.state_of(function) in machine.path(arn), " > ".join(machine.path(arn)[-10:])
    failed_attempts = [e for e in events if e["type"] == "TaskFailed"]
    assert len(failed_attempts) == 2
    assert all(e["taskFailedEventDetails"]["error"] == "Lambda.TooManyRequestsException" for e in failed_attempts)


def test_an_invocation_that_times_out_is_retried(machine: Machine) -> None:
    lam = machine.cloud.client("lambda")
    function = machine.function("PublishVersionsFunction")
    timeout = lam.get_function_configuration(FunctionName=function)["Timeout"]
    lam.update_function_configuration(FunctionName=function, Timeout=2)  # so that the hang is short
    lambda_runtime.inject_fault(function, "timeout", times=1)
    try:
        arn = machine.upload("timed-out-once")
        described = machine.finish(arn)
    finally:
        lambda_runtime.clear_faults()
        lam.update_function_configuration(FunctionName=function, Timeout=timeout)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    events = machine.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    failed = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failed == ["Sandbox.Timedout"]


def test_a_persistent_fault_fails_cleanly_then_redrive_ends_like_a_clean_run(machine: Machine) -> None:
    function = machine.function("PublishVersionsFunction")
    lam = machine.cloud.client("lambda")
    greeter = machine.demo.function_names()["GreeterFunction"]
    newest_before = max(int(v["Version"]) for v in lam.list_versions_by_function(FunctionName=greeter)["Versions"]
                        if v["Version"] != "$LATEST")
    lambda_runtime.inject_fault(function, "service_error", times=20)  # more than the Retry's 6 attempts
    try:
        arn = machine.upload("persistent-fault")
        described = machine.finish(arn)
    finally:
        lambda_runtime.clear_faults()
    assert described["status"] == "FAILED" and described["error"] == "Lambda.ServiceException"
    assert machine.path(arn)[-1] == "Publish versions"  # failed at the state, not through the Catch path
    deadline = time.monotonic() + 30
    while machine.lock_holder() is not None and time.monotonic() < deadline:
        time.sleep(0.2)  # the finaliser runs on the execution's FAILED event
    assert machine.lock_holder() is None

    machine.sfn.redrive_execution(executionArn=arn)
    redriven = machine.finish(arn)
    assert redriven["status"] == "SUCCEEDED", redriven.get("cause")
    path = machine.path(arn)
    assert path.count("Execute change set") == 1  # nothing before the failed state ran again
    versions = lam.list_versions_by_function(FunctionName=greeter)["Versions"]
    published = [v for v in versions if v["Version"] != "$LATEST"]
    assert max(int(v["Version"]) for v in published) == newest_before + 1  # one new version
    assert len({v["CodeSha256"] for v in published}) == len(published)  # and no duplicate of any code
    assert lam.get_alias(FunctionName=greeter, Name="live")["FunctionVersion"] == str(newest_before + 1)
