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


def test_a_token_wait_turned_back_into_a_wait_state_is_named_in_the_error():
    polling = copy.deepcopy(ASL)
    polling["States"]["Wait for traffic shift"] = {"Type": "Wait", "Seconds": 2, "Next": "Check traffic shift"}
    polling["States"]["Wait for stack"]["Resource"] = "arn:aws:states:::lambda:invoke"
    with pytest.raises(waits.AslMismatch) as raised:
        waits.check_asl(polling)
    assert "'Wait for traffic shift' is a Wait state, expected a Task state" in str(raised.value)
    assert "'Wait for stack' is not a .waitForTaskToken Task" in str(raised.value)


