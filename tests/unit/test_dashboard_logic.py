"""The dashboard's and the CLI's pure parts: the state machine's layout, a shift's schedule, tables for
people and pipes, links, short SHAs, help text, and the dashboard's HTTP surface without AWS."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner
from werkzeug.test import Client

from stepdeploy.aws.executions import console_url
from stepdeploy.ghe.api import GheError
from stepdeploy_cli.commits import ghe_api_url, resolve_commit
from stepdeploy_cli.context import Operator, Options
from stepdeploy_cli.dashboard.app import Dashboard
from stepdeploy_cli.dashboard.graph import layout
from stepdeploy_cli.errors import CliError, VerbRefused
from stepdeploy_cli.executions import schedule_text
from stepdeploy_cli.main import app
from stepdeploy_cli.output import emit_table
from stepdeploy_cli.shift import Schedule, Step, bake_countdown, current_step, steps_of
from stepdeploy_cli.verbs import execution_verbs

pytestmark = pytest.mark.unit

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "deploy.asl.json"
ARN = "arn:aws:states:eu-west-1:123456789012:execution:stepdeploy-deploy:sample-app-main-1a2b3c4-abcdef"


# --- the drawing ---------------------------------------------------------------------------------------
def test_layout_of_the_real_definition_puts_every_state_once_below_what_leads_to_it():
    definition = json.loads(ASL.read_text())
    graph = layout(definition)
    nodes = {n["name"]: n for n in graph["nodes"]}
    assert set(nodes) == set(definition["States"])
    assert nodes["Resolve request"]["layer"] == 0
    forward = [e for e in graph["edges"] if e["kind"] != "loop"]
    assert all(nodes[e["target"]]["layer"] > nodes[e["source"]]["layer"] for e in forward)
    loops = {(e["source"], e["target"]) for e in graph["edges"] if e["kind"] == "loop"}
    assert ("Build finished?", "Wait for build") in loops and ("Traffic shifted?", "Wait for traffic shift") in loops
    assert {"catch"} <= {e["kind"] for e in graph["edges"]}
    boxes = {(n["x"], n["y"]) for n in graph["nodes"]}
    assert len(boxes) == len(nodes)  # no two states drawn on top of each other
    assert all(0 <= n["x"] <= graph["width"] - graph["node_width"] for n in graph["nodes"])


def test_layout_refuses_a_definition_that_names_a_missing_state():
    with pytest.raises(ValueError, match="StartAt 'Nope'"):
        layout({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}})
    with pytest.raises(ValueError, match="'A' goes to 'B'"):
        layout({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}})


# --- a shift's schedule --------------------------------------------------------------------------------
def test_steps_of_canary_linear_and_all_at_once():
    canary = {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5}}
    assert steps_of("CodeDeployDefault.LambdaCanary10Percent5Minutes", canary) == [Step(10, 0), Step(100, 5)]
    assert steps_of("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", None)[:3] == [
        Step(10, 0), Step(20, 1), Step(30, 2)]
    assert steps_of("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", None)[-1] == Step(100, 9)
    assert steps_of("CodeDeployDefault.LambdaAllAtOnce", {"type": "AllAtOnce"}) == [Step(100, 0)]
    custom = {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 40, "linearInterval": 3}}
    assert steps_of("StepdeployLinear40PercentEvery3Minutes", custom) == [Step(40, 0), Step(80, 3), Step(100, 6)]


def test_the_current_step_is_read_from_the_weights_and_the_next_is_timed_on_the_clock():
    steps = [Step(10, 0), Step(100, 5)]
    assert current_step(steps, 0.0) is None and current_step(steps, 0.1) == 0 and current_step(steps, 1.0) == 1
    schedule = Schedule("LambdaCanary10Percent5Minutes", steps, "2026-12-05T12:00:00Z", 0)
    assert schedule.as_dict()["next_at"] == "2026-12-05T12:05:00Z"
    assert schedule_text(schedule) == (
        "LambdaCanary10Percent5Minutes: step 1/2 now (10%); next 100% at +5m (2026-12-05T12:05:00Z)")
    local = Schedule("LambdaCanary10Percent5Minutes", steps, "2026-12-05T12:00:00Z", 0, clock_speed=60.0)
    assert local.as_dict()["next_at"] == "2026-12-05T12:00:05Z"  # 5 minutes at 60x: 5 seconds
    done = Schedule("LambdaCanary10Percent5Minutes", steps, "2026-12-05T12:00:00Z", 1)
    assert schedule_text(done).endswith("step 2/2 now (100%); last step")


def test_bake_countdown():
    now = datetime(2026, 12, 5, 12, 0, 30, tzinfo=UTC)
    bake = {"until": "2026-12-05T12:02:00Z", "remaining_seconds": 100, "checked_at": "x", "alarms": ["A"]}
    assert bake_countdown(bake, now)["left_now_seconds"] == 90.0
    assert bake_countdown({**bake, "done": True}, now) is None


# --- tables --------------------------------------------------------------------------------------------
def sample_table() -> Table:
    table = Table(title="executions")
    for column in ("name", "status", "execution"):
        table.add_column(column, no_wrap=True)
    table.add_row("first", "[green]SUCCEEDED[/]", ARN)
    table.add_row("second", "FAILED", ARN.replace("abcdef", "fedcba"))
    return table


def test_a_table_piped_is_tab_separated_rows_without_title_or_markup():
    out = io.StringIO()
    with redirect_stdout(out):
        emit_table(sample_table(), Console(file=io.StringIO(), force_terminal=False))
    second = ARN.replace("abcdef", "fedcba")
    assert out.getvalue().splitlines() == [f"first\tSUCCEEDED\t{ARN}", f"second\tFAILED\t{second}"]


def test_a_table_on_a_narrow_terminal_keeps_arns_whole():
    screen = io.StringIO()
    narrow = Console(file=screen, force_terminal=True, width=60, no_color=True)
    import stepdeploy_cli.output as output

    original = output.Console

    def wide_console(**kwargs: Any) -> Console:
        return original(file=screen, **kwargs)

    output.Console = wide_console  # type: ignore[misc]
    try:
        emit_table(sample_table(), narrow)
    finally:
        output.Console = original  # type: ignore[misc]
    assert ARN in screen.getvalue()  # on one line, not folded at 60 columns


# --- links, commits, verbs -----------------------------------------------------------------------------
def test_links_point_at_the_local_dashboard_on_a_local_cloud_and_at_the_console_on_aws():
    assert console_url(ARN, "http://127.0.0.1:4566") == (
        "http://127.0.0.1:4566/dashboard/#execution=sample-app-main-1a2b3c4-abcdef")
    assert console_url(ARN, "").startswith("https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1")
    assert console_url(ARN, "https://vpce-1.states.eu-west-1.vpce.amazonaws.com").startswith("https://eu-west-1.console")


def test_links_follow_the_endpoint_the_settings_or_the_operator_use(monkeypatch: pytest.MonkeyPatch):
    from stepdeploy.settings import settings

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    settings.cache_clear()
    try:
        assert console_url(ARN).startswith("http://127.0.0.1:4599/dashboard/#execution=")
    finally:
        settings.cache_clear()
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    local = Operator(Options(region="eu-west-1", endpoint_url="http://127.0.0.1:4577"))
    assert local.console_url(ARN) == "http://127.0.0.1:4577/dashboard/#execution=sample-app-main-1a2b3c4-abcdef"
    assert Operator(Options(region="eu-west-1")).console_url(ARN).startswith("https://eu-west-1.console.aws")


class FakeGhe:
    def __init__(self, answer: str | None = None, status: int = 0) -> None:
        self.answer, self.status, self.asked = answer, status, []

    def commit_sha(self, repository: str, ref: str) -> str:
        self.asked.append((repository, ref))
        if self.status:
            raise GheError(self.status, '{"message": "No commit found for SHA: ' + ref + '"}')
        return str(self.answer)


def test_short_shas_are_resolved_through_ghe_and_bad_ones_refused():
    full = "1a2b3c4" + "d" * 33
    ghe = FakeGhe(full)
    assert resolve_commit("1A2B3C4", "platform/app", lambda: ghe) == full
    assert ghe.asked == [("platform/app", "1a2b3c4")]
    never = FakeGhe(full)
    assert resolve_commit(full.upper(), "platform/app", lambda: never) == full and never.asked == []
    with pytest.raises(CliError, match="first 7 or more; got 'abc12'"):
        resolve_commit("abc12", "platform/app", lambda: ghe)
    with pytest.raises(CliError, match="no single commit of platform/app starts with it.*needs more digits"):
        resolve_commit("1a2b3c4", "platform/app", lambda: FakeGhe(status=422))
    with pytest.raises(CliError, match="not a commit starting with it"):
        resolve_commit("1a2b3c4", "platform/app", lambda: FakeGhe("f" * 40))
    assert ghe_api_url({"GheHost": "127.0.0.1:4566", "GheProtocol": "http"}) == "http://127.0.0.1:4566/api/v3"
    assert ghe_api_url({"GheApiUrl": "https://ghe/api/v3", "GheHost": "x"}) == "https://ghe/api/v3"


def test_verbs_offered_by_status():
    assert execution_verbs("RUNNING", "Wait for approval", True) == ["approve", "reject", "stop"]
    assert execution_verbs("RUNNING", "Check build", False) == ["stop"]
    assert execution_verbs("FAILED", "Package artifact", False) == ["redrive"]
    assert execution_verbs("FAILED", "Deployment failed", False) == []  # a redrive would fail the same way
    assert execution_verbs("SUCCEEDED", "Deployed", False) == []


# --- help and version ----------------------------------------------------------------------------------
def test_help_has_an_example_per_command_and_no_bool_noise():
    runner = CliRunner()
    commands = ["deployments", "watch", "redrive", "replay", "rollback", "approvals", "approve", "reject",
                "dashboard", "metrics", "demo", "executions list", "executions show", "local up"]
    for command in commands:
        shown = runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        assert "Example: stepdeploy " in shown.output, command
        assert "<bool>" not in shown.output, command
    root = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "--install-completion" in root and "<bool>" not in root
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("stepdeploy ")


# --- the dashboard's HTTP surface ----------------------------------------------------------------------
def test_the_dashboard_serves_its_page_and_refuses_actions_without_its_header():
    client = Client(Dashboard(Operator(Options())))
    page = client.get("/")
    assert page.status_code == 200 and b"static/app.js" in page.data
    assert client.get("/static/app.js").headers["Content-Type"].startswith("text/javascript")
    assert client.get("/static/../pyproject.toml").status_code == 404
    assert client.get("/static/nope.js").status_code == 404
    refused = client.post("/api/action/approve?ref=x", json={})
    assert refused.status_code == 403 and "X-Stepdeploy-Dashboard" in refused.json["error"]
    assert client.get("/api/execution").status_code == 400
    assert client.get("/api/action/approve").status_code == 405


def test_the_dashboard_command_refuses_a_public_address_unless_asked():
    refused = CliRunner().invoke(app, ["dashboard", "--host", "0.0.0.0"])
    assert refused.exit_code == 1 and "expected a loopback address" in refused.stderr and "--public" in refused.stderr


# --- operator verbs against moto's Step Functions ----------------------------------------------------------
def test_stop_and_redrive_from_the_dashboard_check_the_status_first(op: Operator):
    from stepdeploy_cli.dashboard.data import act

    op.sfn.start_execution(stateMachineArn=op.outputs["StateMachineArn"], name="run-1")
    with pytest.raises(VerbRefused, match="cannot redrive run-1: it is RUNNING.*; what applies now: stop$"):
        act(op, "redrive", "run-1", comment="", by="grace")
    stopped = act(op, "stop", "run-1", comment="wrong branch", by="grace")
    assert stopped == {"name": "run-1", "execution_arn": stopped["execution_arn"], "stopped": True, "by": "grace"}
    described = op.sfn.describe_execution(executionArn=stopped["execution_arn"])
    assert described["status"] == "ABORTED"
    with pytest.raises(VerbRefused, match="cannot stop run-1: it is ABORTED"):
        act(op, "stop", "run-1", comment="", by="grace")
    with pytest.raises(CliError, match="unknown action 'dance'"):
        act(op, "dance", "run-1", comment="", by="grace")


def test_an_approval_records_the_callers_aws_identity_with_the_by_text_beside_it(
    op: Operator, monkeypatch: pytest.MonkeyPatch
):
    from stepdeploy_cli.dashboard.data import act

    machine = op.outputs["StateMachineArn"]
    identity = op.client("sts").get_caller_identity()["Arn"]
    sent: list[dict] = []
    monkeypatch.setattr(op.sfn, "send_task_success", lambda **kwargs: sent.append(kwargs))
    monkeypatch.setattr(op.sfn, "send_task_failure", lambda **kwargs: sent.append(kwargs))
    for name in ("run-1", "run-2", "run-3"):
        arn = op.sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"]
        op.ledger.put_approval(arn, {"task_token": f"token-{name}", "stack": "sample-prod"}, 600)
    approved = act(op, "approve", "run-1", comment="reviewed", by="grace")
    assert approved["by"] == f"{identity} (grace)" and approved["identity"] == identity
    assert approved["by_text"] == "grace"
    assert json.loads(sent[0]["output"]) == {"approved": True, "by": f"{identity} (grace)", "identity": identity,
                                             "by_text": "grace", "comment": "reviewed"}
    assert act(op, "approve", "run-2", comment="", by=None)["by"] == identity
    rejected = act(op, "reject", "run-3", comment="not today", by="mallory")
    assert sent[2]["cause"] == f"Rejected by {identity} (mallory): not today"
    assert rejected["identity"] == identity  # --by never replaces the identity
