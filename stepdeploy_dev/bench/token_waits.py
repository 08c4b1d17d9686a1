"""How each token wait of an execution ended, read from its history: resumed by the service's event,
by the wait's own first check (the operation was over before the token was stored, or an alarm was
already firing), or by its time-out (then the Check after it reconciles: a lost event, or a bake
that ran its full time).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TOKEN_WAITS = ("Wait for build", "Wait for stack", "Wait for traffic shift", "Wait while baking")
BAKE_WAIT = "Wait while baking"


@dataclass(frozen=True)
class WaitOutcome:
    state: str
    resumed_by: str  # event | check | timeout
    entered_at: datetime
    ended_at: datetime
    output: dict[str, Any]


def wait_outcomes(events: Iterable[dict[str, Any]]) -> list[WaitOutcome]:
    """Every visit of a token wait state, in order, with what ended it."""
    outcomes: list[WaitOutcome] = []
    current: tuple[str, datetime] | None = None
    for event in sorted(events, key=lambda e: e["id"]):
        kind = str(event["type"])
        if kind == "TaskStateEntered":
            name = str((event.get("stateEnteredEventDetails") or {}).get("name"))
            current = (name, event["timestamp"]) if name in TOKEN_WAITS else None
        elif current is not None and kind == "TaskSucceeded":
            output = json.loads((event.get("taskSucceededEventDetails") or {}).get("output") or "{}")
            outcomes.append(WaitOutcome(current[0], str(output.get("resumed_by", "?")), current[1],
                                        event["timestamp"], output))
            current = None
        elif current is not None and kind == "TaskTimedOut":
            outcomes.append(WaitOutcome(current[0], "timeout", current[1], event["timestamp"], {}))
            current = None
        elif current is not None and kind in ("TaskFailed", "TaskStateExited"):
            current = None
    return outcomes


def resumed_counts(outcomes: Iterable[WaitOutcome]) -> dict[str, int]:
    """How many waits each way ended; a bake that ran its full time is not a lost event."""
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.state == BAKE_WAIT and outcome.resumed_by == "timeout":
            counts["bake time over"] += 1
        else:
            counts[outcome.resumed_by] += 1
    return dict(counts)
