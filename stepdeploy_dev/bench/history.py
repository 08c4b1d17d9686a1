"""Reading Step Functions execution histories (GetExecutionHistory events) into what the benchmark counts.

Pure functions over the events' dicts: state visits with their times and outputs, billed state
transitions, and the interval in which an execution held its stack's lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LOCK_STATE = "Acquire lock"
RECORD_PREFIX = "Record"
_ATTEMPT_EVENTS = ("TaskScheduled", "LambdaFunctionScheduled")


@dataclass
class StateVisit:
    """One entry into a state: when it was entered and left, its output, and its task attempts."""

    name: str
    state_type: str
    entered_at: datetime
    exited_at: datetime | None = None
    output: dict[str, Any] | None = None
    attempts: int = 0
    started_at: list[datetime] = field(default_factory=list)

    def section(self, key: str) -> dict[str, Any]:
        value = (self.output or {}).get(key)
        return value if isinstance(value, dict) else {}


def _parse(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def state_visits(events: Iterable[dict[str, Any]]) -> list[StateVisit]:
    """The states an execution went through, in order (events sorted by id)."""
    visits: list[StateVisit] = []
    open_visit: StateVisit | None = None
    for event in sorted(events, key=lambda e: e["id"]):
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails") or {}
            open_visit = StateVisit(str(details.get("name")), kind[: -len("StateEntered")], event["timestamp"])
            visits.append(open_visit)
        elif kind.endswith("StateExited"):
            details = event.get("stateExitedEventDetails") or {}
            name = details.get("name")
            visit = next((v for v in reversed(visits) if v.name == name and v.exited_at is None), None)
            if visit is not None:
                visit.exited_at = event["timestamp"]
                visit.output = _parse(details.get("output"))
        elif open_visit is not None and kind in _ATTEMPT_EVENTS:
            open_visit.attempts += 1
        elif open_visit is not None and kind in ("TaskStarted", "LambdaFunctionStarted"):
            open_visit.started_at.append(event["timestamp"])
    return visits


def transitions(visits: Sequence[StateVisit]) -> int:
    """Billed state transitions: every state entered, plus every retry of a task."""
    return len(visits) + sum(max(0, v.attempts - 1) for v in visits)


def task_attempts(visits: Sequence[StateVisit]) -> int:
    """Lambda invocations made by the state machine (retries included)."""
    return sum(v.attempts for v in visits)


@dataclass(frozen=True)
class LockInterval:
    """From the moment an execution held its stack's lock to the moment it entered a Record* state."""

    execution: str
    stack: str
    start: datetime
    end: datetime
    closed: bool  # False: the execution never reached a Record* state; ``end`` is its last event


def lock_interval(execution: str, visits: Sequence[StateVisit], last_event_at: datetime) -> LockInterval | None:
    for index, visit in enumerate(visits):
        lock = visit.section("lock")
        if visit.name != LOCK_STATE or visit.exited_at is None or not lock.get("stack"):
            continue
        record = next((v for v in visits[index + 1:] if v.name.startswith(RECORD_PREFIX)), None)
        end = record.entered_at if record else last_event_at
        return LockInterval(execution, str(lock["stack"]), visit.exited_at, end, record is not None)
    return None


def overlapping_pairs(intervals: Sequence[LockInterval]) -> list[tuple[str, str]]:
    """Pairs of executions whose lock intervals on the same stack overlap (should be none)."""
    pairs = []
    ordered = sorted(intervals, key=lambda i: (i.stack, i.start))
    for index, first in enumerate(ordered):
        for second in ordered[index + 1:]:  # sorted by start: the first that starts after ``first`` ends stops it
            if second.stack != first.stack or second.start >= first.end:
                break
            pairs.append((first.execution, second.execution))
    return pairs
