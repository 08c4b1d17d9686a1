"""The load scenario's verdicts: lost pushes, stacks on their newest commit, overlapping stack changes."""

from datetime import UTC, datetime, timedelta

import pytest

from stepdeploy_dev.bench.history import LockInterval
from stepdeploy_dev.bench.load import Push, Repository, allowed_repositories, judge

pytestmark = pytest.mark.unit

ONE, TWO = Repository(1), Repository(2)


def push(repository: Repository, index: int, status: int = 202) -> Push:
    return Push(repository, index, f"{repository.number}{index}" + "0" * 38, status, 0.0)


def release(p: Push, outcome: str, ended: str) -> dict[str, str]:
    return {"commit": p.commit, "outcome": outcome, "ended_at": ended}


def test_repositories_alternate_concurrency_modes_and_are_allowed_their_own_stack():
    assert (ONE.name, ONE.stack, ONE.mode, TWO.mode) == ("sample-1", "sample-1-prod", "superseded", "queued")
    assert allowed_repositories([ONE, TWO]) == "platform/sample-1:sample-1-prod,platform/sample-2:sample-2-prod"


def test_every_push_recorded_and_each_stack_on_its_newest_commit():
    pushes = [push(ONE, 0), push(ONE, 1), push(TWO, 0), push(TWO, 1)]
    releases = {
        ONE.stack: [release(pushes[0], "Superseded", "2026-11-23T19:00:01Z"),
                    release(pushes[1], "Deployed", "2026-11-23T19:00:09Z")],
        TWO.stack: [release(pushes[2], "Deployed", "2026-11-23T19:00:05Z"),
                    release(pushes[3], "Deployed", "2026-11-23T19:00:12Z")],
    }
    verdict = judge(pushes, releases, [], [])
    assert (verdict["pushes_lost"], verdict["stacks_on_newest_commit"]) == (0, 2)


def test_a_push_missing_from_the_ledger_is_lost_and_an_older_deploy_last_is_caught():
    pushes = [push(ONE, 0), push(ONE, 1), push(TWO, 0, status=502)]
    releases = {
        # the older commit deployed after the newer one: the stack ends on the wrong commit
        ONE.stack: [release(pushes[1], "Deployed", "2026-11-23T19:00:05Z"),
                    release(pushes[0], "Deployed", "2026-11-23T19:00:09Z")],
        TWO.stack: [],
    }
    verdict = judge(pushes, releases, [], ["sample-2-main-2000000-abc"])
    assert verdict["pushes_lost"] == 1 and verdict["accepted_pushes_lost"] == 0 and verdict["webhook_refused"] == 1
    assert verdict["stacks_on_newest_commit"] == 0
    assert verdict["stacks_not_on_newest_commit"] == [ONE.stack, TWO.stack]
    assert "webhook 502" in verdict["lost"][0] and "sample-2-main-2000000-abc" in verdict["lost"][0]


def test_overlapping_lock_intervals_are_counted():
    start = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
    intervals = [LockInterval("a", ONE.stack, start, start + timedelta(seconds=5), True),
                 LockInterval("b", ONE.stack, start + timedelta(seconds=4), start + timedelta(seconds=9), True)]
    assert judge([push(ONE, 0)], {ONE.stack: []}, intervals, [])["overlapping_stack_changes"] == 1


def test_a_stack_whose_newest_push_the_webhook_refused_is_on_its_newest_accepted_commit_only():
    pushes = [push(ONE, 0), push(ONE, 1, status=502)]
    releases = {ONE.stack: [release(pushes[0], "Deployed", "2026-11-23T19:00:05Z")]}
    verdict = judge(pushes, releases, [], [])
    assert (verdict["stacks_on_newest_commit"], verdict["stacks_on_newest_accepted_commit"]) == (0, 1)
    assert (verdict["pushes_lost"], verdict["accepted_pushes_lost"]) == (1, 0)
