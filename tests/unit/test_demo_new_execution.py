"""The demo finds the execution its trigger started: not an older one, not a pipeline stage's child.

A pipeline's stages run as child executions of the same state machine. The next push must not be taken
for one of them: a test once followed the previous pipeline's production child (SUCCEEDED) instead of
the new push (waiting at its window gate).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from stepdeploy_cli.context import Operator
from stepdeploy_cli.demo.runner import Demo


def demo_on(op: Operator, tmp_path: Path) -> Demo:
    machine = op.outputs["StateMachineArn"]
    cloud = SimpleNamespace(client=op.client, orchestrator=SimpleNamespace(state_machine_arn=machine))
    return Demo(cloud, tmp_path, Console(quiet=True), live=False)  # type: ignore[arg-type]


def start(op: Operator, name: str, parent: str | None = None) -> str:
    given = {"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": parent} if parent else {"source": "ghe"}
    return str(op.sfn.start_execution(stateMachineArn=op.outputs["StateMachineArn"], name=name,
                                      input=json.dumps(given))["executionArn"])


def test_the_stage_children_of_an_earlier_push_are_not_the_next_push(op: Operator, tmp_path: Path) -> None:
    demo = demo_on(op, tmp_path)
    earlier = start(op, "push-1")
    assert demo.new_execution() == earlier
    start(op, "push-1-dev", parent=earlier)
    start(op, "push-1-production", parent=earlier)
    demo.seen |= set(demo.executions())  # what push and upload do before they trigger
    later = start(op, "push-2")
    assert demo.new_execution() == later


def test_a_child_started_after_the_push_is_skipped(op: Operator, tmp_path: Path) -> None:
    demo = demo_on(op, tmp_path)
    parent = start(op, "push-1")
    start(op, "push-1-dev", parent=parent)  # newer than its parent, and not a trigger's execution
    assert demo.new_execution() == parent
