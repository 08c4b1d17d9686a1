"""Check stage gates against moto: the window waits, a soak watches the stage before, a newer commit at
the gate supersedes, and open gates give the stage's child execution its name and the build made once."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepdeploy.errors import StageGateFailed, Superseded
from stepdeploy.release.stage_gates import MAX_WAIT_SECONDS, SOAK_CHECK_SECONDS
from stepdeploy.tasks import check_stage_gates as gates

from .conftest import load_event
from .deploy_support import run

pytestmark = pytest.mark.handler

SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
MONDAY_NOON_PARIS = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)


def gate(stage: str, now: datetime, monkeypatch: pytest.MonkeyPatch, **request: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("check_stage_gates"))
    event["document"]["request"].update(request)
    monkeypatch.setattr(gates, "clock", lambda: now)
    return run("check_stage_gates", event["document"], {**event["execution"], "stage": stage})["gate"]


def test_outside_the_window_the_promotion_waits_and_starts_nothing(orchestrator, monkeypatch):
    waiting = gate("production", SATURDAY, monkeypatch)
    assert waiting["wait_seconds"] == MAX_WAIT_SECONDS and "deployment window" in waiting["reason"]
    assert waiting["waiting_at"] == "window"
    assert not waiting.get("child_name") and not waiting.get("child_input")


def test_open_gates_name_the_child_after_the_stage_and_hand_it_the_build(orchestrator, monkeypatch):
    event = load_event("check_stage_gates")
    opened = gate("production", MONDAY_NOON_PARIS, monkeypatch)
    assert opened["wait_seconds"] == 0 and opened["waiting_at"] == ""
    assert opened["child_name"] == "sample-app-main-6113728-e1-production"
    child = opened["child_input"]
    assert child["stage"] == "production"
    assert {k: v for k, v in child["build"].items() if k != "started_at"} == event["document"]["build"]
    assert child["event"] == event["document"]["event"] and child["source"] == "ghe"
    assert child["parent_execution"] == child["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"] == event["execution"]["Id"]


def test_a_newer_commit_at_the_gate_supersedes_an_older_one(orchestrator, monkeypatch):
    from stepdeploy.aws.ledger import ledger

    ledger().register_at_gate("sample-prod", "arn:newer", "f" * 40, "2026-11-23T19:00:00.000Z")
    with pytest.raises(Superseded, match="ffffff"):
        gate("production", SATURDAY, monkeypatch)
    # queued mode keeps order: the older commit goes on waiting for its turn
    queued = copy.deepcopy(load_event("check_stage_gates")["document"]["request"]["target"]) | {"concurrency": "queued"}
    assert gate("production", SATURDAY, monkeypatch, target=queued)["wait_seconds"] > 0


def record_dev_release(ended: datetime) -> None:
    from stepdeploy.aws.ledger import ledger

    ledger().record_release({
        "execution_arn": "arn:dev", "execution_name": "sample-app-main-6113728-e1-dev", "stack": "sample-dev",
        "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "outcome": "Deployed",
        "started_at": (ended - timedelta(minutes=1)).isoformat(), "ended_at": ended.isoformat(),
    })


def test_a_soak_waits_while_the_stage_before_is_quiet_and_fails_when_its_alarm_fires(orchestrator, monkeypatch):
    import boto3

    # the soak before staging watches dev's alarms: give dev the alarm
    event = load_event("check_stage_gates")
    stages = copy.deepcopy(event["document"]["request"]["pipeline"]["stages"])
    stages[0]["alarms"] = ["DevErrors"]
    pipeline = {"name": "sample", "stages": stages}
    deployed = datetime.now(UTC) - timedelta(minutes=2)
    record_dev_release(deployed)
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="DevErrors", MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName="DevErrors", StateValue="OK", StateReason="quiet")
    soaking = gate("staging", deployed + timedelta(minutes=2), monkeypatch, pipeline=pipeline)
    assert soaking["wait_seconds"] == SOAK_CHECK_SECONDS and "soaking stage dev" in soaking["reason"]
    assert soaking["waiting_at"] == "soak"
    cloudwatch.set_alarm_state(AlarmName="DevErrors", StateValue="ALARM", StateReason="3 errors")
    with pytest.raises(StageGateFailed, match="an alarm of stage dev fired during the soak: DevErrors: 3 errors"):
        gate("staging", deployed + timedelta(minutes=3), monkeypatch, pipeline=pipeline)


def test_a_soak_without_a_release_of_the_commit_before_refuses(orchestrator, monkeypatch):
    with pytest.raises(StageGateFailed, match="no release of this commit on stage dev"):
        gate("staging", SATURDAY, monkeypatch)
