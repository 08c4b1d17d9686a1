"""DORA figures from ledger records: what counts as a deployment, a change failure, a restore, a lead time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepdeploy_cli.dora import dora_figures, percentile, stack_figures

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SINCE, UNTIL = T0, T0 + timedelta(days=10)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def release(outcome: str, ended_h: float, *, committed_h: float | None = None, stack: str = "orders-prod",
            repository: str = "platform/orders") -> dict[str, Any]:
    record = {"repository": repository, "stack": stack, "outcome": outcome,
              "started_at": at(ended_h - 0.25), "ended_at": at(ended_h)}
    if committed_h is not None:
        record["committed_at"] = at(committed_h)
    return record


def figures(records: list[dict[str, Any]]) -> Any:
    return stack_figures(records, since=SINCE, until=UNTIL, repository="platform/orders", stack="orders-prod")


def test_deployment_frequency_counts_deployed_only_per_day_of_the_window():
    records = [release("Deployed", 10), release("Deployed", 30), release("NoChanges", 40),
               release("BuildFailed", 50), release("Superseded", 60), release("Deployed", 70)]
    result = figures(records)
    assert result.deployments == 3
    assert result.deployments_per_day == 0.3  # 3 over a 10-day window
    assert result.outcomes == {"BuildFailed": 1, "Deployed": 3, "NoChanges": 1, "Superseded": 1}


def test_lead_time_runs_from_commit_to_deployed_and_skips_releases_without_commit_time():
    records = [release("Deployed", 10, committed_h=9), release("Deployed", 20, committed_h=17),
               release("Deployed", 30, committed_h=25), release("Deployed", 40),  # an upload: no commit time
               release("BuildFailed", 45, committed_h=44)]
    result = figures(records)
    assert result.lead_time_samples == 3
    assert result.lead_time_median_seconds == 3 * 3600
    assert result.lead_time_p90_seconds == 5 * 3600


def test_only_failures_after_the_stack_changed_are_change_failures():
    records = [release("Deployed", 10), release("BuildFailed", 20), release("ConfigurationError", 21),
               release("ApprovalRejected", 22), release("DeploymentRolledBack", 30), release("Deployed", 40),
               release("StackUpdateFailed", 50), release("NoChanges", 55)]
    result = figures(records)
    assert (result.changes, result.change_failures) == (4, 2)  # 2 Deployed + rollback + stack failure
    assert result.change_failure_rate == 0.5


def test_time_to_restore_runs_to_the_next_good_release_and_open_failures_are_counted():
    records = [release("DeploymentRolledBack", 10), release("BuildFailed", 11), release("Deployed", 13),
               release("AlarmDuringBake", 20)]
    result = figures(records)
    assert result.restored == 1 and result.unrestored == 1
    assert result.restore_median_seconds == 3 * 3600


def test_operator_rollback_makes_the_release_it_took_back_a_change_failure():
    records = [release("Deployed", 10), release("Deployed", 20), release("RolledBack", 21.5)]
    result = figures(records)
    assert result.deployments == 2
    assert (result.change_failures, result.changes) == (1, 2)
    assert result.restore_median_seconds == 1.5 * 3600  # the bad release went live at 20h, rolled back at 21.5h


def test_two_operator_rollbacks_take_back_two_releases():
    records = [release("Deployed", 10), release("Deployed", 20), release("Deployed", 30),
               release("RolledBack", 31), release("RolledBack", 32)]
    assert figures(records).change_failures == 2


def test_window_bounds_and_restores_found_after_the_window_start():
    records = [release("DeploymentRolledBack", -2), release("Deployed", 1), release("Deployed", 300)]
    result = figures(records)  # the failure ended before the window, the 300 h release after it
    assert result.deployments == 1 and result.change_failures == 0
    assert result.outcomes == {"Deployed": 1}


def test_no_changes_means_no_rate_rather_than_zero():
    result = figures([release("NoChanges", 5), release("BuildFailed", 6)])
    assert result.change_failure_rate is None and result.deployments == 0
    assert result.lead_time_median_seconds is None and result.restore_median_seconds is None


def test_figures_are_grouped_by_repository_and_stack_and_empty_groups_dropped():
    records = [release("Deployed", 10), release("Deployed", 11, stack="orders-dev"),
               release("Deployed", 12, repository="platform/billing", stack="billing-prod"),
               release("Deployed", 500, stack="orders-old")]  # outside the window
    rows = dora_figures(records, since=SINCE, until=UNTIL)
    assert [(r.repository, r.stack, r.deployments) for r in rows] == [
        ("platform/billing", "billing-prod", 1), ("platform/orders", "orders-dev", 1),
        ("platform/orders", "orders-prod", 1),
    ]


def test_unreadable_times_are_ignored_not_fatal():
    broken = {"repository": "platform/orders", "stack": "orders-prod", "outcome": "Deployed", "ended_at": "soon"}
    offset = release("Deployed", 10, committed_h=8)
    offset["ended_at"] = "2026-11-01T12:00:00+02:00"  # = 10:00Z
    result = figures([broken, offset])
    assert result.deployments == 1 and result.lead_time_median_seconds == 2 * 3600


def test_percentile_is_nearest_rank():
    assert percentile([], 0.9) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([float(v) for v in range(1, 11)], 0.9) == 9.0
    assert percentile([float(v) for v in range(1, 11)], 0.5) == 5.0


def test_metrics_command_prints_a_row_per_repository_and_stack(monkeypatch):
    from typer.testing import CliRunner

    from stepdeploy_cli import metrics as command
    from stepdeploy_cli.main import app

    now = datetime.now(UTC)

    def stamp(hours_ago: float) -> str:
        return (now - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")

    records = [
        {"repository": "platform/orders", "stack": "orders-prod", "outcome": "Deployed", "ended_at": stamp(30),
         "committed_at": stamp(32)},
        {"repository": "platform/orders", "stack": "orders-prod", "outcome": "DeploymentRolledBack",
         "ended_at": stamp(20)},
        {"repository": "platform/orders", "stack": "orders-prod", "outcome": "Deployed", "ended_at": stamp(10),
         "committed_at": stamp(11)},
        {"repository": "platform/orders", "stack": "orders-prod", "outcome": "BuildFailed", "ended_at": stamp(5)},
    ]
    seen: dict[str, Any] = {}

    def fake_records(ledger: Any, *, since: datetime, stack: str | None = None) -> list[dict[str, Any]]:
        seen.update(since=since, stack=stack)
        return records

    monkeypatch.setattr(command, "ledger_records", fake_records)
    monkeypatch.setattr(command, "operator", lambda ctx: type("Op", (), {"ledger": None})())
    result = CliRunner().invoke(app, ["metrics", "--since", "7d", "--stack", "orders-prod"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert seen["stack"] == "orders-prod" and abs((now - seen["since"]).total_seconds() - 7 * 86400) < 60
    row = next(line for line in result.stdout.splitlines() if "orders-prod" in line)
    assert "platform/orders" in row and "33% (1/3)" in row and "10h00m" in row  # restored 20h -> 10h ago
    assert "BuildFailed 1" in row and "DeploymentRolledBack 1" in row
    as_json = CliRunner().invoke(app, ["metrics", "--json"])
    (figures,) = json.loads(as_json.stdout)["figures"]
    assert figures["deployments"] == 2 and figures["lead_time_median_seconds"] == 1.5 * 3600
