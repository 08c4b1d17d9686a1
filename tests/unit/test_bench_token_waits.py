"""How the benchmark tells a wait resumed by an event from one resumed by its check or its time-out."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from stepdeploy_dev.bench.token_waits import resumed_counts, wait_outcomes

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def entered(event_id: int, name: str) -> dict:
    return {"id": event_id, "type": "TaskStateEntered", "timestamp": T0 + timedelta(seconds=event_id),
            "stateEnteredEventDetails": {"name": name}}


def succeeded(event_id: int, how: str) -> dict:
    return {"id": event_id, "type": "TaskSucceeded", "timestamp": T0 + timedelta(seconds=event_id),
            "taskSucceededEventDetails": {"output": json.dumps({"resumed_by": how})}}


def timed_out(event_id: int) -> dict:
    return {"id": event_id, "type": "TaskTimedOut", "timestamp": T0 + timedelta(seconds=event_id)}


def test_each_wait_visit_is_counted_by_what_ended_it():
    events = [
        entered(1, "Check build"), succeeded(2, "event"),  # not a token wait: ignored
        entered(3, "Wait for build"), timed_out(4),
        entered(5, "Wait for build"), succeeded(6, "event"),
        entered(7, "Wait for stack"), succeeded(8, "check"),
        entered(9, "Wait while baking"), timed_out(10),
    ]
    outcomes = wait_outcomes(reversed(events))  # order by event id, not by arrival
    assert [(o.state, o.resumed_by) for o in outcomes] == [
        ("Wait for build", "timeout"), ("Wait for build", "event"), ("Wait for stack", "check"),
        ("Wait while baking", "timeout"),
    ]
    assert outcomes[1].ended_at - outcomes[1].entered_at == timedelta(seconds=1)
    assert resumed_counts(outcomes) == {"timeout": 1, "event": 1, "check": 1, "bake time over": 1}
