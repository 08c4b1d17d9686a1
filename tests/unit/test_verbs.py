"""Operator verbs that do not apply to an execution's state now are refused, by the dashboard's API (409, or 400 for
an unknown verb, with what was asked and the state found) and by the CLI alike, against moto's Step Functions and
the ledger on moto's DynamoDB."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner
from werkzeug.test import Client

from stepdeploy_cli import approvals, steer
from stepdeploy_cli.context import Operator, Options
from stepdeploy_cli.dashboard.app import ACTION_HEADER, Dashboard
from stepdeploy_cli.dashboard.data import act
from stepdeploy_cli.errors import CliError, OperatorGroup, VerbRefused
from stepdeploy_cli.verbs import check, offer
from stepdeploy_cli.watch import ExecutionView

from .test_dashboard_release import History, Sfn

pytestmark = pytest.mark.unit

STACK = "orders-prod"


def start(op: Operator, name: str, stack: str | None = STACK) -> str:
    """A running execution; with ``stack``: one that works on that stack (as its lock records it)."""
    arn = str(op.sfn.start_execution(stateMachineArn=op.state_machine_arn, name=name)["executionArn"])
    if stack:
        op.ledger.table.put_item(Item={"pk": f"execution#{arn}", "sk": "execution", "stack": stack})
    return arn


def step_release(op: Operator, arn: str, status: str, percent: int = 25, reason: str | None = None) -> None:
    op.ledger.start_progress(STACK, arn, {"status": status, "execution_name": arn.rsplit(":", 1)[-1],
                                          "percent": percent, "steps": [25, 100], "paused_reason": reason})


def post(op: Operator, verb: str, ref: str) -> Any:
    return Client(Dashboard(op)).post(f"/api/action/{verb}?ref={ref}", json={}, headers={ACTION_HEADER: "1"})


# --- the rule ------------------------------------------------------------------------------------------
def test_what_an_execution_offers_follows_its_state(op: Operator):
    plain = start(op, "plain", stack=None)
    assert offer(op, op.describe(plain)).verbs == ["stop"]
    paused = start(op, "paused")
    step_release(op, paused, "paused", reason="operator")
    found = offer(op, op.describe(paused))
    assert found.verbs == ["stop", "resume", "promote", "abort"] and found.engine == "stepdeploy"
    assert "its step release of orders-prod is paused (operator) at 25%" in found.state()
    op.ledger.put_approval(plain, {"task_token": "t", "stack": "x"}, 600)
    assert offer(op, op.describe(plain)).verbs == ["approve", "reject", "stop"]


def test_a_codedeploy_abort_applies_only_to_the_execution_that_shifts_and_holds_the_lock(op: Operator):
    shifting = start(op, "shifting")
    other = start(op, "other")
    canned = Sfn()
    history = History().state("Start traffic shift").state("Wait for traffic shift", kind="Wait", exits=False)
    for arn in (shifting, other):
        canned.executions[arn] = ({"executionArn": arn}, history)
    op.ledger.take_lock(STACK, shifting, 600, lambda _: True)

    def seen(arn: str) -> Any:
        view = ExecutionView(canned, arn)
        view.refresh()
        return offer(op, op.describe(arn), view)

    holder = seen(shifting)
    assert holder.engine == "codedeploy" and holder.verbs == ["stop", "abort"]
    assert "CodeDeploy shifts the traffic of orders-prod" in holder.state()
    assert seen(other).verbs == ["stop"]  # its abort would stop the other execution's deployment


# --- the dashboard's API -------------------------------------------------------------------------------
def test_the_api_refuses_a_release_verb_on_an_execution_without_a_release_with_409_naming_the_state(op: Operator):
    start(op, "run-1", stack=None)
    for verb in ("pause", "resume", "promote", "abort", "approve", "reject", "redrive"):
        refused = post(op, verb, "run-1")
        assert refused.status_code == 409, (verb, refused.json)
        body = refused.json
        assert body["asked"] == verb and body["subject"] == "run-1" and body["verbs"] == ["stop"]
        assert body["state"].startswith("RUNNING") and body["found"]["status"] == "RUNNING"
        assert body["found"]["release"] is None and body["found"]["waiting_for_approval"] is False
        assert body["error"].startswith(f"cannot {verb} run-1: it is RUNNING") and "what applies now: stop" in (
            body["error"])


def test_the_api_refuses_pause_of_a_paused_release_and_resume_of_a_running_one(op: Operator):
    arn = start(op, "run-2")
    step_release(op, arn, "paused", reason="inconclusive")
    refused = post(op, "pause", "run-2")
    assert refused.status_code == 409
    assert "its step release of orders-prod is paused (inconclusive) at 25%" in refused.json["error"]
    assert refused.json["verbs"] == ["stop", "resume", "promote", "abort"]
    assert refused.json["found"]["release"] == {"engine": "stepdeploy", "stack": STACK,
                                                "state": "paused (inconclusive) at 25%"}
    assert op.ledger.progress(STACK).get("command") is None  # nothing was sent to the release
    answered = post(op, "resume", "run-2")
    assert answered.status_code == 200 and answered.json["verb"] == "resume"
    assert op.ledger.progress(STACK)["command"]["verb"] == "resume"

    step_release(op, arn, "running", percent=25)
    refused = post(op, "resume", "run-2")
    assert refused.status_code == 409 and "is running at 25%" in refused.json["error"]
    assert refused.json["verbs"] == ["stop", "pause", "promote", "abort"]


def test_the_api_refuses_to_steer_a_release_another_execution_runs(op: Operator):
    older, newer = start(op, "older"), start(op, "newer")
    step_release(op, newer, "running")
    for verb in ("pause", "promote", "abort"):
        refused = post(op, verb, "older")
        assert refused.status_code == 409 and refused.json["verbs"] == ["stop"], verb
    assert op.ledger.progress(STACK).get("command") is None and op.ledger.progress(STACK)["execution_arn"] == newer
    assert older != newer


def test_a_release_that_has_taken_its_last_step_offers_nothing_to_promote(op: Operator):
    arn = start(op, "run-3")
    step_release(op, arn, "done", percent=100)
    with pytest.raises(VerbRefused, match=r"cannot promote run-3: .*is done at 100%; what applies now: stop$"):
        check(op, "promote", op.describe(arn))


def test_an_unknown_verb_is_a_400_before_any_aws_call():
    answer = Client(Dashboard(Operator(Options()))).post("/api/action/dance?ref=run-1", json={},
                                                         headers={ACTION_HEADER: "1"})
    assert answer.status_code == 400 and answer.json["asked"] == "dance"
    assert "unknown action 'dance': expected one of approve, reject, stop, redrive, pause" in answer.json["error"]


def test_an_execution_that_ended_is_refused_stop_and_offered_redrive(op: Operator):
    arn = start(op, "run-4", stack=None)
    op.sfn.stop_execution(executionArn=arn)
    refused = post(op, "stop", "run-4")
    assert refused.status_code == 409 and refused.json["verbs"] == ["redrive"]
    assert refused.json["error"].startswith("cannot stop run-4: it is ABORTED")
    with pytest.raises(VerbRefused, match="cannot approve run-4: it is ABORTED"):
        act(op, "approve", "run-4", comment="", by=None)


# --- the CLI says the same ----------------------------------------------------------------------------
def cli(op: Operator, *args: str) -> Any:
    app = typer.Typer(cls=OperatorGroup)

    @app.callback()
    def _operator(ctx: typer.Context) -> None:
        ctx.obj = op

    for command in (steer.pause, steer.resume, steer.abort, approvals.approve, approvals.reject):
        app.command()(command)
    return CliRunner().invoke(app, list(args))


def test_the_cli_refuses_pause_of_a_paused_release_and_resume_of_a_running_one(op: Operator):
    arn = start(op, "run-5")
    step_release(op, arn, "paused", reason="operator", percent=50)
    refused = cli(op, "pause", STACK)
    assert refused.exit_code == 1
    assert ("error: cannot pause the release of orders-prod: it is paused (operator) at 50%; what applies now: "
            "resume, promote, abort") in refused.output
    assert op.ledger.progress(STACK).get("command") is None
    step_release(op, arn, "running", percent=50)
    refused = cli(op, "resume", STACK)
    assert refused.exit_code == 1 and "cannot resume the release of orders-prod: it is running at 50%" in (
        refused.output)
    assert cli(op, "pause", STACK).exit_code == 0 and op.ledger.progress(STACK)["command"]["verb"] == "pause"


def test_the_cli_refuses_an_approval_nobody_waits_for_naming_the_state(op: Operator):
    start(op, "run-6", stack=None)
    for verb in ("approve", "reject"):
        refused = cli(op, verb, "run-6")
        assert refused.exit_code == 1, refused.output
        assert f"error: cannot {verb} run-6: it is RUNNING, nothing waits for approval" in refused.output
        assert "what applies now: stop" in refused.output


def test_the_dashboards_redrive_makes_the_checks_stepdeploy_redrive_makes(op: Operator):
    stopped = start(op, "run-7")
    op.sfn.stop_execution(executionArn=stopped)
    deploying = start(op, "run-8")
    op.ledger.take_lock(STACK, deploying, 600, lambda _: True)  # another execution deploys the stack now
    assert offer(op, op.describe(stopped)).verbs == ["redrive"]
    with pytest.raises(CliError, match="run-7 is not redrivable now: stack orders-prod is being deployed by run-8"):
        act(op, "redrive", "run-7", comment="", by="grace")
