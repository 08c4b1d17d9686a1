"""A short wait on a service inside one invocation, instead of one state machine loop per poll.

Builds, stack updates and traffic shifts are waited for on task tokens that the services' events
resume (stepdeploy.tasks.wait_for_event); the Check step after such a wait polls only if the
operation is still running (a wait that timed out), and change-set creation, which sends no event,
is waited for here. A Check step is retried every POLL_INTERVAL_SECONDS within
the invocation until its piece says ``done`` or the budget (POLL_BUDGET_SECONDS, and never closer than
a safety margin to the function's own timeout) runs out; then the state machine's loop calls it again.
So a wait costs a fixed number of state transitions for anything shorter than the budget, and adds at
most one poll interval of latency (half of it on average).

On the local cloud, STEPDEPLOY_CLOCK_SPEED (set by its Lambda runtime) scales these seconds to its
accelerated clock; on AWS it is absent and seconds are seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

SAFETY_MARGIN_SECONDS = 20.0


@dataclass(frozen=True)
class PollSettings:
    """Read from the environment by stepdeploy.settings (``settings().poll``)."""

    interval: float
    budget: float
    speed: float

    def real(self, seconds: float) -> float:
        return seconds / self.speed


def poll_deadline(settings: PollSettings, remaining_ms: int | None, now: float) -> float:
    """The monotonic time after which no new poll starts."""
    deadline = now + settings.real(settings.budget)
    if remaining_ms is not None:
        deadline = min(deadline, now + remaining_ms / 1000 - SAFETY_MARGIN_SECONDS)
    return deadline


def keep_polling(
    check: Callable[[], bool],
    *,
    settings: PollSettings,
    remaining_ms: Callable[[], int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """After a first check that said "not yet": sleep an interval, check again, until ``check`` returns
    True or the next check would start after the deadline. Returns the number of checks made here."""
    deadline = poll_deadline(settings, remaining_ms() if remaining_ms else None, clock())
    calls = 0
    while clock() + settings.real(settings.interval) <= deadline:
        sleep(settings.real(settings.interval))
        calls += 1
        if check():
            break
    return calls
