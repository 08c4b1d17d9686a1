"""The gates before a pipeline's stage, decided from what they watch (pure: the clock is given).

Order: the deployment window (waits, or fails with ``outside: fail``), then the soak of the previous
stage with its alarms watched, then the automated test against the previous stage, right before the
promotion starts (so that it tests what is live then).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from stepdeploy.app_config.target_config import Gates
from stepdeploy.errors import StageGateFailed

MAX_WAIT_SECONDS = 3600
"""A closed window is checked again at least hourly: a newer commit at the same gate is noticed there."""
SOAK_CHECK_SECONDS = 300
"""During a soak the previous stage's alarms are read again at least every five minutes."""


@dataclass(frozen=True)
class Decision:
    wait_seconds: int
    reason: str
    gate: str
    """The gate that waits: ``window`` or ``soak``."""


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def window_decision(gates: Gates, stage: str, now: datetime) -> Decision | None:
    """None: the window is open (or there is none); else how long to wait. StageGateFailed when closed
    and ``outside: fail``, or when it never opens again."""
    if gates.window is None:
        return None
    opens = gates.window.window().next_open(now)
    if opens == now:
        return None
    if opens is None:
        raise StageGateFailed(f"stage {stage}: its deployment window does not open within a year; check gates.window")
    if gates.window.outside == "fail":
        raise StageGateFailed(
            f"stage {stage}: outside its deployment window (next opening {opens.isoformat()}); "
            "gates.window.outside is 'fail'"
        )
    return Decision(min(_seconds(opens - now), MAX_WAIT_SECONDS),
                    f"outside the deployment window; it opens at {opens.isoformat()}", "window")


def soak_decision(gates: Gates, stage: str, previous: str, deployed_at: datetime | None, now: datetime,
                  alarms_firing: dict[str, str]) -> Decision | None:
    """None: the soak is over (or there is none); else how long until the alarms are read again.
    StageGateFailed as soon as an alarm of the previous stage fires during the soak."""
    if not gates.soak_minutes:
        return None
    if alarms_firing:
        listed = "; ".join(f"{name}: {reason}" for name, reason in alarms_firing.items())
        raise StageGateFailed(f"stage {stage}: an alarm of stage {previous} fired during the soak: {listed}")
    if deployed_at is None:
        raise StageGateFailed(f"stage {stage}: no release of this commit on stage {previous} to soak")
    ends = deployed_at + timedelta(minutes=gates.soak_minutes)
    if now >= ends:
        return None
    return Decision(min(_seconds(ends - now), SOAK_CHECK_SECONDS),
                    f"soaking stage {previous} until {ends.isoformat()}, its alarms watched", "soak")


def verdict_of_test(stage: str, previous: str, function: str, answer: object) -> str:
    """The test function's answer must be ``{"passed": true}``; anything else refuses the promotion."""
    if not isinstance(answer, dict) or not isinstance(answer.get("passed"), bool):
        raise StageGateFailed(
            f"stage {stage}: test {function} answered {str(answer)[:200]!r}; expected {{\"passed\": true|false}}"
        )
    message = str(answer.get("message") or "")[:500]
    if not answer["passed"]:
        raise StageGateFailed(f"stage {stage}: test {function} failed against stage {previous}: {message or 'failed'}")
    return f"test {function} passed against stage {previous}" + (f": {message}" if message else "")
