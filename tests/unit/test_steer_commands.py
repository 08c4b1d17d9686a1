"""`stepdeploy pause|resume|promote|abort|progress STACK` against moto: what they say when nothing can be steered,
and what `progress` prints; the operator's start of an execution under a free name (replay, promote).
(Steering a running release: tests/statemachine/test_progressive.py.)"""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from stepdeploy_cli import steer
from stepdeploy_cli.context import Operator
from stepdeploy_cli.errors import CliError

pytestmark = pytest.mark.unit


def test_nothing_running_is_said_per_engine(op: Operator):
    with pytest.raises(CliError, match="no release of orders-prod is running .*nothing to pause"):
        steer.steer(op, "orders-prod", "pause", by="ada")
    with pytest.raises(CliError, match="no release of orders-prod is running: nothing to abort"):
        steer.steer(op, "orders-prod", "abort", by="ada")
    arn = op.sfn.start_execution(stateMachineArn=op.state_machine_arn, name="run-1")["executionArn"]
    op.ledger.take_lock("orders-prod", arn, 600, lambda _: True)  # a CodeDeploy release holds the stack
    with pytest.raises(CliError, match="CodeDeploy cannot pause, resume or promote"):
        steer.steer(op, "orders-prod", "promote", by="ada")


def test_a_command_for_a_release_that_ended_is_refused(op: Operator):
    arn = op.sfn.start_execution(stateMachineArn=op.state_machine_arn, name="run-2")["executionArn"]
    op.ledger.start_progress("orders-prod", arn, {"status": "done", "execution_name": "run-2"})
    with pytest.raises(CliError, match="nothing to resume"):
        steer.steer(op, "orders-prod", "resume", by="ada")


def test_progress_prints_the_journal(op: Operator):
    arn = op.sfn.start_execution(stateMachineArn=op.state_machine_arn, name="run-3")["executionArn"]
    op.ledger.start_progress("orders-prod", arn, {"status": "paused", "execution_name": "run-3", "percent": 5,
                                                  "steps": [5, 100], "paused_reason": "inconclusive"})
    op.ledger.journal("orders-prod", "run-3", {"at": "t1", "type": "step", "step": 0, "percent": 5})
    op.ledger.journal("orders-prod", "run-3", {"at": "t2", "type": "judgement", "summary": "Inconclusive: too few"})
    assert steer.steer(op, "orders-prod", "resume", by="ada")["woken"] is False  # no wait stored: the next one
    assert op.ledger.progress("orders-prod")["command"]["by"] == "ada"
    app = typer.Typer()

    @app.callback()
    def _operator(ctx: typer.Context) -> None:
        ctx.obj = op

    app.command()(steer.progress)
    shown = CliRunner().invoke(app, ["progress", "orders-prod"])
    assert shown.exit_code == 0, shown.output
    assert "paused at 5%" in shown.output and "paused: inconclusive" in shown.output
    assert "Inconclusive: too few" in shown.output
    as_json = json.loads(CliRunner().invoke(app, ["progress", "orders-prod", "--json"]).stdout)
    assert [e["type"] for e in as_json["journal"]] == ["step", "judgement"]


def test_a_start_takes_the_first_name_not_taken_and_says_when_all_are(op: Operator):
    op.sfn.start_execution(stateMachineArn=op.state_machine_arn, name="orders-replay-1", input="{\"first\": true}")
    started = op.start_execution((f"orders-replay-{n}" for n in (1, 2, 3)), "{}")
    assert started is not None and started["executionArn"].endswith(":orders-replay-2")
    assert op.start_execution((f"orders-replay-{n}" for n in (1, 2)), "{\"third\": true}") is None
