"""`stepdeploy pipeline` shows the running executions at each stage with the gate each waits at, from the same
function the dashboard's pipeline view calls (canned Step Functions histories and ledger items; the same run on
the local cloud: tests/e2e/test_dashboard_steering.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from stepdeploy_cli import pipelines
from stepdeploy_cli.dashboard import data
from stepdeploy_cli.errors import OperatorGroup

from .test_dashboard_release import COMMIT, STAGES, History, Ledger, Sfn, gate_output, operator, parent_until_the_map

pytestmark = pytest.mark.unit

OLDER = "0" * 40


def recorded(ledger: Ledger) -> None:
    ledger.releases["pipeline:sample"] = [{"stack": "pipeline:sample", "stages": STAGES, "outcome": "Deployed"}]
    ledger.releases["sample-dev"] = [{"stack": "sample-dev", "outcome": "Deployed", "commit": COMMIT,
                                      "execution_name": "p-window-dev", "ended_at": "2026-12-05T11:00:00Z"}]
    ledger.releases["sample-prod"] = [{"stack": "sample-prod", "outcome": "Deployed", "commit": OLDER,
                                       "execution_name": "p1-production", "ended_at": "2026-12-05T11:10:00Z"}]


def waiting_at_the_window(sfn: Sfn) -> str:
    history = parent_until_the_map(1).state("Check stage gates", gate_output(
        "production", wait_seconds=3600, reason="outside the deployment window; it opens at 2026-12-07T09:00:00+01:00",
        waiting_at="window"))
    history.state("Stage gates open?", kind="Choice").state("Wait at stage gate", kind="Wait", exits=False)
    return sfn.add("p-window", history)


def run(op: Any, *args: str) -> Any:
    """`stepdeploy pipeline ARGS` with ``op``'s canned clients as the operator's connection."""
    app = typer.Typer(cls=OperatorGroup)
    app.callback()(lambda: None)
    app.command()(pipelines.pipeline)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipelines, "operator", lambda ctx: op)
        return CliRunner().invoke(app, ["pipeline", *args])


def test_the_json_names_the_gate_each_running_execution_waits_at_beside_its_stage():
    sfn, ledger = Sfn(), Ledger()
    recorded(ledger)
    arn = waiting_at_the_window(sfn)
    shown = run(operator(sfn, ledger), "sample", "--json")
    assert shown.exit_code == 0, shown.output
    dev, production = json.loads(shown.stdout)
    assert (dev["stage"], dev["commit"], dev["running"]) == ("dev", COMMIT, [])
    assert production["commit"] == OLDER
    [waiting] = production["running"]
    assert (waiting["execution_name"], waiting["execution_arn"], waiting["commit"]) == ("p-window", arn, COMMIT)
    assert waiting["gate"]["kind"] == "window" and "2026-12-07T09:00:00+01:00" in waiting["gate"]["reason"]
    # The dashboard's view is computed by the same function: the same gate, the same stages.
    [view] = data.pipelines(operator(sfn, ledger))["pipelines"]
    assert view["running"][0]["gate"] == waiting["gate"]
    assert [row["commit"] for row in view["stages"]] == [dev["commit"], production["commit"]]


def test_the_table_shows_the_gate_in_its_waiting_column():
    sfn, ledger = Sfn(), Ledger()
    recorded(ledger)
    waiting_at_the_window(sfn)
    shown = run(operator(sfn, ledger), "sample")  # not a terminal: one tab-separated line a row
    assert shown.exit_code == 0, shown.output
    dev, production = (line.split("\t") for line in shown.stdout.splitlines())
    assert dev[:4] == ["sample", "dev", "sample-dev", COMMIT[:7]] and dev[-1] == "-"
    assert production[-1] == ("p-window (1a2b3c4) waiting for its deployment window: outside the deployment window; "
                              "it opens at 2026-12-07T09:00:00+01:00")


def test_a_first_run_still_building_is_shown_at_the_first_stage_and_an_approval_with_its_command():
    sfn, ledger = Sfn(), Ledger()  # nothing recorded yet: the pipeline is known from its running executions
    sfn.add("p-building", History().state("Resolve request", {"request": {
        "commit": COMMIT, "pipeline": {"name": "sample", "stages": STAGES}}}).state("Wait for build", exits=False))
    approval = parent_until_the_map(1).state("Check stage gates", gate_output(
        "production", wait_seconds=0, child_name="p-approval-production"))
    approval.state("Stage gates open?", kind="Choice").state("Deploy stage", exits=False).waits()
    sfn.add("p-approval", approval)
    child = sfn.add("p-approval-production", History().state("Wait for approval", exits=False).waits(),
                    {"source": "ghe", "event": {}, "stage": "production"})
    ledger.approvals[child] = {"changes": [{"LogicalResourceId": "GreeterFunction"}], "task_token": "secret"}
    rows = json.loads(run(operator(sfn, ledger), "sample", "--json").stdout)
    assert [[r["execution_name"] for r in row["running"]] for row in rows] == [["p-building"], ["p-approval"]]
    assert rows[0]["running"][0]["gate"]["kind"] == "building" and rows[0]["commit"] is None
    lines = run(operator(sfn, ledger), "sample").stdout.splitlines()
    assert lines[0].split("\t")[-1] == "p-building (1a2b3c4) building the artifact"
    assert lines[1].split("\t")[-1] == ("p-approval (1a2b3c4) waiting for approval of p-approval-production "
                                        "(1 changes): stepdeploy approve p-approval-production")
    assert "secret" not in json.dumps(rows)


def test_an_unknown_pipeline_is_refused_naming_the_known_ones():
    sfn, ledger = Sfn(), Ledger()
    recorded(ledger)
    shown = run(operator(sfn, ledger), "orders", "--json")
    assert shown.exit_code == 1
    assert "no pipeline 'orders' recorded or running; pipelines: sample" in shown.output
