"""Execution histories into transitions, lock intervals and the latency each wait loop adds."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepdeploy_dev.bench import history, waits

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
SPEED = 60.0
BUILD, CHECK_BUILD = waits.WAIT_LOOPS[0], "Check build"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class History:
    """GetExecutionHistory events, as boto3 returns them, built state by state (times in real seconds)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = [{"id": 1, "type": "ExecutionStarted", "timestamp": T0}]

    def _add(self, kind: str, seconds: float, **extra: Any) -> None:
        self.events.append({"id": len(self.events) + 1, "type": kind, "timestamp": at(seconds), **extra})

    def task(self, name: str, start: float, end: float, output: dict[str, Any], attempts: int = 1) -> "History":
        self._add("TaskStateEntered", start, stateEnteredEventDetails={"name": name, "input": "{}"})
        for _ in range(attempts):
            self._add("TaskScheduled", start)
            self._add("TaskStarted", start)
        self._add("TaskStateExited", end, stateExitedEventDetails={"name": name, "output": json.dumps(output)})
        return self

    def state(self, kind: str, name: str, start: float, end: float | None = None) -> "History":
        self._add(f"{kind}StateEntered", start, stateEnteredEventDetails={"name": name, "input": "{}"})
        self._add(f"{kind}StateExited", start if end is None else end,
                  stateExitedEventDetails={"name": name, "output": "{}"})
        return self

    def visits(self) -> list[history.StateVisit]:
        return history.state_visits(list(reversed(self.events)))  # the order they come in must not matter


def build_history(*, build_done_on_poll: int = 2, lock: bool = True) -> History:
    h = History().task("Resolve request", 0.0, 0.1, {"request": {}})
    h.task("Acquire lock", 0.1, 0.2, {"lock": {"stack": "sample-prod"}} if lock else {"error": {"Error": "Superseded"}})
    if not lock:
        return h.task("Record superseded", 0.25, 0.3, {})
    h.task("Start build", 0.2, 0.3, {"build": {"build_id": "b:1", "done": False}})
    clock = 0.3
    for poll in range(1, build_done_on_poll + 1):
        done = poll == build_done_on_poll
        h.task(CHECK_BUILD, clock, clock + 0.5, {"build": {"build_id": "b:1", "done": done}})
        h.state("Choice", "Build finished?", clock + 0.5)
        clock += 0.5
        if not done:
            h.state("Wait", "Wait for build", clock, clock + 0.1)
            clock += 0.1
    return h.task("Package artifact", clock, clock + 0.1, {}).task("Record release", clock + 0.2, clock + 0.3, {})


def test_visits_pair_entries_with_exits_and_parse_outputs():
    visits = build_history(build_done_on_poll=1).visits()
    assert [v.name for v in visits] == [
        "Resolve request", "Acquire lock", "Start build", "Check build", "Build finished?", "Package artifact",
        "Record release",
    ]
    check = visits[3]
    assert (check.state_type, check.entered_at, check.exited_at) == ("Task", at(0.3), at(0.8))
    assert check.section("build") == {"build_id": "b:1", "done": True}
    assert check.started_at == [at(0.3)]


def test_transitions_count_every_state_entered_and_every_retry():
    h = build_history(build_done_on_poll=1)
    assert history.transitions(h.visits()) == 7
    h.task("Record failure", 5, 6, {}, attempts=3)  # two retries
    visits = h.visits()
    assert history.transitions(visits) == 8 + 2
    assert history.task_attempts(visits) == 6 + 3


def test_the_lock_interval_runs_from_holding_the_lock_to_the_record_state():
    visits = build_history(build_done_on_poll=1).visits()
    interval = history.lock_interval("exec-1", visits, at(99))
    assert interval == history.LockInterval("exec-1", "sample-prod", at(0.2), at(1.0), closed=True)


def test_no_lock_interval_for_an_execution_that_never_held_the_lock():
    assert history.lock_interval("exec-2", build_history(lock=False).visits(), at(99)) is None


def test_an_execution_that_never_recorded_holds_the_lock_until_its_last_event():
    h = History().task("Acquire lock", 0, 1, {"lock": {"stack": "s"}}).task("Start build", 1, 2, {})
    interval = history.lock_interval("exec-3", h.visits(), at(2))
    assert interval is not None and (interval.end, interval.closed) == (at(2), False)


def interval(name: str, stack: str, start: float, end: float) -> history.LockInterval:
    return history.LockInterval(name, stack, at(start), at(end), True)


def test_overlapping_pairs_on_the_same_stack_only():
    intervals = [
        interval("a", "s1", 0, 10), interval("b", "s1", 10, 20),  # back to back: no overlap
        interval("c", "s2", 5, 15),  # another stack
        interval("d", "s1", 19, 25),  # overlaps b
    ]
    assert history.overlapping_pairs(intervals) == [("b", "d")]
    assert history.overlapping_pairs([interval("x", "s", 0, 10), interval("y", "s", 1, 2), interval("z", "s", 3, 4)]) \
        == [("x", "y"), ("x", "z")]


def test_the_loop_is_left_at_the_check_that_says_done():
    visits = build_history(build_done_on_poll=3).visits()
    exits = waits.loop_exits(visits, BUILD)
    assert len(exits) == 1 and exits[0].entered_at == at(1.5) and exits[0].exited_at == at(2.0)
    assert waits.left_done(exits[0], BUILD)
    assert sum(1 for v in visits if v.name == CHECK_BUILD) == 3


def test_a_caught_failure_also_leaves_the_loop_but_not_done():
    h = History().task("Start build", 0, 0.1, {"build": {"build_id": "b:2", "done": False}})
    h.task(CHECK_BUILD, 0.1, 0.4, {"build": {"build_id": "b:2", "done": False}, "error": {"Error": "BuildFailed"}})
    h.task("Record failure", 0.4, 0.5, {})
    exits = waits.loop_exits(h.visits(), BUILD)
    assert len(exits) == 1 and not waits.left_done(exits[0], BUILD)


def test_added_latency_is_from_the_services_completion_to_leaving_the_loop_in_aws_seconds():
    exit_visit = waits.loop_exits(build_history(build_done_on_poll=2).visits(), BUILD)[0]
    build_ended = at(1.35)  # CodeBuild's endTime, 50 ms before the check that saw it returned (at 1.4)
    assert exit_visit.exited_at is not None
    assert waits.added_latency_seconds(build_ended, exit_visit.exited_at, SPEED) == pytest.approx(0.05 * 60)


def test_the_bake_ends_when_its_own_accounting_says_the_time_was_up():
    bake = {"until": "2026-11-23T19:02:00.000Z", "checked_at": "2026-11-23T19:00:02.030Z",
            "remaining_seconds": -1.2, "done": True}
    assert waits.bake_finished_at(bake, SPEED) == at(2.030 - 1.2 / 60)
    assert waits.bake_started_at(bake, 2) == at(0)
    assert waits.bake_finished_at({**bake, "done": False}, SPEED) is None
    assert waits.bake_finished_at({"done": True}, SPEED) is None
