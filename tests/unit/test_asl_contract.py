"""Numbers the tasks and the ASL must agree on."""

import json
from pathlib import Path

import pytest

from stepdeploy.errors import RETRYABLE_ERRORS, TERMINAL_ERRORS

pytestmark = pytest.mark.unit
ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "deploy.asl.json").read_text())


def test_waits_that_poll_check_first_and_loop_only_after_a_budget():
    for start, check in (("Start build", "Check build"), ("Execute change set", "Check stack"),
                         ("Create change set", "Check change set"), ("Start traffic shift", "Check traffic shift")):
        assert ASL["States"][start]["Next"] == check
        assert ASL["States"][check]["TimeoutSeconds"] > 600  # the polling budget


SUPERSEDABLE = ("Acquire lock", "Wait for approval")
"""Only waiting steps can be superseded by a newer push."""


def test_every_terminal_error_is_caught_and_no_retryable_one_is():
    for name, state in ASL["States"].items():
        if state["Type"] != "Task" or name.startswith("Record"):
            continue
        caught = {e for catcher in state["Catch"] for e in catcher["ErrorEquals"]}
        retried = {e for retrier in state["Retry"] for e in retrier["ErrorEquals"]}
        terminal = {cls.__name__ for cls in TERMINAL_ERRORS}
        if name not in SUPERSEDABLE:
            terminal.discard("Superseded")
        assert terminal <= caught, name
        assert not caught & {cls.__name__ for cls in RETRYABLE_ERRORS}, name
        assert {"ServiceThrottled", "ServiceUnavailable"} <= retried, name


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
