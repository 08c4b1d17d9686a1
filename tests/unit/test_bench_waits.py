"""The benchmark finds the state machine's wait loops by name, and says what differs when they change."""

import copy
import json
from pathlib import Path

import pytest

from stepdeploy_dev.bench import waits

pytestmark = pytest.mark.unit

ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "deploy.asl.json").read_text())


def test_the_current_state_machine_has_every_wait_loop_the_benchmark_measures():
    waits.check_asl(ASL)  # raises AslMismatch naming the differences otherwise
    assert set(waits.waiting_functions(ASL).values()) == {loop.wait for loop in waits.WAIT_LOOPS}


def test_each_loops_check_function_is_named_by_its_logical_id():
    functions = waits.waiting_functions(ASL)
    assert functions["CheckBuildFunction"] == "Wait for build"
    assert all(name.endswith("Function") for name in functions)


def test_a_renamed_state_is_named_in_the_error():
    renamed = copy.deepcopy(ASL)
    renamed["States"]["Wait for builds"] = renamed["States"].pop("Wait for build")
    with pytest.raises(waits.AslMismatch, match=r"no state named 'Wait for build'.*WAIT_LOOPS"):
        waits.check_asl(renamed)


def test_rewiring_and_a_different_done_flag_are_named_in_the_error():
    changed = copy.deepcopy(ASL)
    changed["States"]["Check stack"]["Next"] = "Publish versions"
    changed["States"]["Traffic shifted?"]["Choices"][0]["Variable"] = "$.shift.finished"
    with pytest.raises(waits.AslMismatch) as raised:
        waits.check_asl(changed)
    message = str(raised.value)
    assert "'Check stack' should lead to 'Stack updated?', leads to 'Publish versions'" in message
    assert "'Traffic shifted?' does not read $.shift.done" in message


def test_a_wait_replaced_by_a_callback_task_is_named_in_the_error():
    callback = copy.deepcopy(ASL)
    callback["States"]["Wait for traffic shift"] = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"
                                                    ".waitForTaskToken", "Next": "Check traffic shift"}
    with pytest.raises(waits.AslMismatch, match="'Wait for traffic shift' is a Task state, expected a Wait state"):
        waits.check_asl(callback)
