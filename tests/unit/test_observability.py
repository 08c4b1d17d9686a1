"""The EMF lines the pipeline prints: namespace, dimension sets, counters, durations, properties."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepdeploy import observability
from stepdeploy.errors import ServiceUnavailable
from stepdeploy.ghe.api import GheError

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def directive(blob: dict[str, Any]) -> dict[str, Any]:
    (only,) = blob["_aws"]["CloudWatchMetrics"]
    return only


def test_started_is_one_line_with_per_stack_and_total_dimension_sets(capsys):
    observability.deployment_started(repository="platform/orders", stack="orders-prod", execution="arn:e",
                                     commit="a" * 40, environment="production")
    (blob,) = printed(capsys)
    emf = directive(blob)
    assert emf["Namespace"] == "stepdeploy"
    assert emf["Dimensions"] == [["repository", "stack", "service"], ["service"]]
    assert [m["Name"] for m in emf["Metrics"]] == ["DeploymentStarted"]
    assert blob["DeploymentStarted"] == [1.0]
    assert (blob["repository"], blob["stack"], blob["service"]) == ("platform/orders", "orders-prod", "stepdeploy")
    assert (blob["execution"], blob["commit"], blob["environment"]) == ("arn:e", "a" * 40, "production")


@pytest.mark.parametrize(
    ("outcome", "ones"),
    [
        ("Deployed", {"DeploymentSucceeded"}),
        ("NoChanges", {"DeploymentNoOp"}),
        ("Superseded", {"DeploymentSuperseded"}),
        ("BuildFailed", {"DeploymentFailed"}),
        ("DeploymentRolledBack", {"DeploymentFailed", "DeploymentRolledBack"}),
        ("AlarmDuringBake", {"DeploymentFailed", "DeploymentRolledBack"}),
        ("TimedOut", {"DeploymentFailed"}),
        ("NotServed", {"DeploymentFailed"}),
    ],
)
def test_every_outcome_sets_its_counters_to_one_and_the_others_to_zero(capsys, outcome, ones):
    observability.deployment_ended({"outcome": outcome, "repository": "platform/orders", "stack": "orders-prod"})
    (blob,) = printed(capsys)
    counters = {name: blob[name] for name in observability.OUTCOME_COUNTERS}
    assert {name for name, value in counters.items() if value == [1.0]} == ones
    assert all(value in ([0.0], [1.0]) for value in counters.values())
    assert blob["outcome"] == outcome
    # a release recorded NotServed (its versions do not serve the traffic) has a counter of its own
    assert blob.get("ReleaseNotServed") == ([1.0] if outcome == "NotServed" else None)


def test_durations_in_seconds_phases_and_lead_time_of_a_deployed_release(capsys):
    observability.deployment_ended({
        "outcome": "Deployed", "repository": "platform/orders", "stack": "orders-prod",
        "committed_at": "2026-11-01T09:00:00Z", "started_at": "2026-11-01T10:00:00Z",
        "ended_at": "2026-11-01T10:05:00.500Z", "phases": {"build": 42.5, "traffic_shift": 200.0},
    })
    (blob,) = printed(capsys)
    units = {m["Name"]: m["Unit"] for m in directive(blob)["Metrics"]}
    assert units["DeploymentDuration"] == units["LeadTime"] == units["BuildDuration"] == "Seconds"
    assert "StackUpdateDuration" not in units  # no stack phase recorded: no value rather than a zero
    assert blob["DeploymentDuration"] == [300.5]  # computed from started/ended when no duration was recorded
    assert blob["LeadTime"] == [3900.5]
    assert (blob["BuildDuration"], blob["TrafficShiftDuration"]) == ([42.5], [200.0])


def test_no_lead_time_for_a_failure_and_recorded_duration_wins(capsys):
    observability.deployment_ended({
        "outcome": "BuildFailed", "repository": "r/r", "stack": "s", "duration_seconds": 12.0,
        "committed_at": "2026-11-01T09:00:00Z", "ended_at": "2026-11-01T10:00:00Z",
    })
    (blob,) = printed(capsys)
    assert "LeadTime" not in blob and blob["DeploymentDuration"] == [12.0]


def test_a_failure_before_a_target_is_known_has_only_the_total_dimension_set(capsys):
    observability.deployment_ended({"outcome": "ConfigurationError", "stack": "(none)", "repository": None})
    (blob,) = printed(capsys)
    assert directive(blob)["Dimensions"] == [["service"]]
    assert "stack" not in blob


def test_ghe_failures_are_one_pipeline_wide_series_by_kind(capsys):
    observability.ghe_failure("commit status", ServiceUnavailable("GHE API answered 503"), repository="platform/orders")
    observability.ghe_failure("create deployment", GheError(401, "Bad credentials"), repository="platform/orders")
    unavailable, rejected = printed(capsys)
    assert directive(unavailable)["Dimensions"] == [["service"]]
    assert unavailable["GheUnavailable"] == [1.0] and "GheRejected" not in unavailable
    assert rejected["GheRejected"] == [1.0]
    assert unavailable["operation"] == "commit status" and "503" in unavailable["reason"]
    assert unavailable["repository"] == "platform/orders"  # a property for Logs Insights, not a dimension


def test_a_metric_that_cannot_be_built_is_logged_never_raised(capsys):
    assert observability.emit({"DeploymentStarted": "many"}) is None  # type: ignore[dict-item]
    assert printed(capsys) == []
