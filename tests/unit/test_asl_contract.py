"""Numbers the tasks and the ASL must agree on."""

import json
from pathlib import Path

import pytest

from stepdeploy.errors import RETRYABLE_ERRORS, TERMINAL_ERRORS

pytestmark = pytest.mark.unit
ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "deploy.asl.json").read_text())


def test_long_waits_sleep_on_a_task_token_that_the_services_event_resumes():
    for start, wait, kind, check in (("Start build", "Wait for build", "build", "Check build"),
                                     ("Execute change set", "Wait for stack", "stack", "Check stack"),
                                     ("Start traffic shift", "Wait for traffic shift", "shift", "Check traffic shift")):
        assert ASL["States"][start]["Next"] == wait
        state = ASL["States"][wait]
        assert state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
        assert state["Parameters"]["FunctionName"] == "${WaitForEventFunctionArn}"
        assert state["Parameters"]["Payload"]["wait"] == kind
        assert state["Parameters"]["Payload"]["execution"]["task_token.$"] == "$$.Task.Token"
        # Resumed or timed out, the same check reads the outcome from the service: a lost event costs the time-out.
        assert state["Next"] == check
        timed_out = state["Catch"][0]
        assert timed_out == {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.waited", "Next": check}
        assert 60 <= state["TimeoutSeconds"] <= 900
        assert ASL["States"][check]["TimeoutSeconds"] <= 60  # a short check, not a long poll
    assert ASL["States"]["Traffic shifted?"]["Choices"][0]["Next"] == "Wait while baking"  # no check before
    bake = ASL["States"]["Wait while baking"]
    assert bake["TimeoutSecondsPath"] == "$.shift.bake_seconds" and bake["Next"] == "Bake"
    assert bake["Catch"][0] == {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.waited", "Next": "Bake"}


def test_change_set_creation_sends_no_event_so_it_is_a_wait_state_and_a_short_check():
    assert ASL["States"]["Create change set"]["Next"] == "Check change set"
    assert ASL["States"]["Wait for change set"]["Type"] == "Wait"
    assert ASL["States"]["Check change set"]["TimeoutSeconds"] <= 60


NOT_SUPERSEDABLE = ("Resolve request",)
"""Every step from Acquire lock on can end Superseded: a waiting one by a newer push, a lock-holding one
when a redrive takes the lock back after newer code went live."""
AFTER_THE_RELEASE = ("Prune versions",)
"""Steps after Record release: the release is recorded, nothing they do may fail it."""


def test_every_terminal_error_is_caught_and_no_retryable_one_is():
    for name, state in ASL["States"].items():
        if state["Type"] != "Task" or name.startswith("Record") or name in AFTER_THE_RELEASE:
            continue
        caught = {e for catcher in state["Catch"] for e in catcher["ErrorEquals"]}
        retried = {e for retrier in state["Retry"] for e in retrier["ErrorEquals"]}
        terminal = {cls.__name__ for cls in TERMINAL_ERRORS}
        if name in NOT_SUPERSEDABLE:
            terminal.discard("Superseded")
        assert terminal <= caught, name
        assert not caught & {cls.__name__ for cls in RETRYABLE_ERRORS}, name
        assert {"ServiceThrottled", "ServiceUnavailable"} <= retried, name


def test_pruning_versions_never_fails_a_recorded_release():
    assert ASL["States"]["Record release"]["Next"] == "Prune versions"
    prune = ASL["States"]["Prune versions"]
    assert prune["Next"] == "Deployed"
    assert prune["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.pruning_error", "Next": "Deployed"}]
    assert {"ServiceThrottled", "ServiceUnavailable"} <= {e for r in prune["Retry"] for e in r["ErrorEquals"]}


def test_a_timed_out_invocation_is_retried_except_where_a_timeout_is_the_answer():
    # Tasks are idempotent, so a hung invocation is tried again; at "Wait for approval" a time-out means
    # nobody answered, which the Catch turns into a rejection.
    for name, state in ASL["States"].items():
        if state["Type"] != "Task":
            continue
        retried = {e for retrier in state["Retry"] for e in retrier["ErrorEquals"]}
        if state["Resource"].endswith(".waitForTaskToken"):
            assert "States.Timeout" not in retried, name
        else:
            assert {"Sandbox.Timedout", "States.Timeout"} <= retried, name


def test_superseded_goes_to_record_superseded_from_every_step_that_can_be_superseded():
    for name, state in ASL["States"].items():
        if state["Type"] != "Task" or name.startswith("Record") or name in NOT_SUPERSEDABLE + AFTER_THE_RELEASE:
            continue
        catcher = next(c for c in state["Catch"] if "Superseded" in c["ErrorEquals"])
        assert catcher["Next"] == "Record superseded", name
        assert catcher["ErrorEquals"] == ["Superseded"], name  # listed before the failure path's catcher
        assert state["Catch"].index(catcher) < len(state["Catch"]) - 1, name


def test_a_waiting_execution_waits_on_a_task_token_not_in_a_retry_loop():
    acquire = ASL["States"]["Acquire lock"]
    assert not any("StackLocked" in r["ErrorEquals"] for r in acquire["Retry"])
    assert acquire["Next"] == "Lock free?"
    choice = ASL["States"]["Lock free?"]
    assert choice["Choices"] == [{"Variable": "$.lock_wait", "IsPresent": True, "Next": "Wait for lock"}]
    assert choice["Default"] == "Prebuilt artifact?"
    wait = ASL["States"]["Wait for lock"]
    # woken early by whoever frees the lock, else at most the interval Acquire lock chose; then ask again
    assert wait == {**wait, "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "TimeoutSecondsPath": "$.lock_wait.seconds", "ResultPath": "$.lock_wait.woken",
                    "Next": "Acquire lock"}
    assert wait["Parameters"]["Payload"]["execution"]["task_token.$"] == "$$.Task.Token"
    timed_out = wait["Catch"][0]
    assert timed_out == {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.lock_wait.timed_out",
                         "Next": "Acquire lock"}
    assert not any("States.Timeout" in r["ErrorEquals"] for r in wait["Retry"])
    # the execution outlives a week-long approval of the holder, then its own
    longest_approval = 10080 * 60
    assert ASL["TimeoutSeconds"] > 2 * longest_approval
