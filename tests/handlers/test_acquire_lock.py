"""Acquire lock against moto's DynamoDB: one execution per stack, newer pushes win, late ones are refused;
and what it tells GHE (a local GHE served over HTTP) when it takes the lock. A waiter waits in the state
machine while the holder may hold the lock and gives up only past its lease; an operator's rollback lock
is honoured by its lease.
"""

from __future__ import annotations

import copy

import boto3
import pytest

from stepdeploy.errors import StackLocked, Superseded
from stepdeploy.release.recovery import MAX_LOCK_WAIT_SECONDS, MIN_LOCK_WAIT_SECONDS, lock_wait_seconds

from .conftest import Context, load_event, load_handler
from .ghe_support import emf_lines, lock_event, pushed_commit

pytestmark = pytest.mark.handler


def test_acquire_lock_and_supersede(orchestrator):
    acquire = load_handler("acquire_lock").handler
    first = load_event("acquire_lock")
    out = acquire(first, Context())
    assert out["lock"]["owner"] == first["execution"]["Id"]
    newer = copy.deepcopy(first)
    newer["execution"]["Id"] = first["execution"]["Id"] + "-newer"
    newer["document"]["request"]["requested_at"] = "2026-11-23T18:10:00Z"
    older = copy.deepcopy(first)
    older["execution"]["Id"] = first["execution"]["Id"] + "-older"
    older["document"]["request"]["requested_at"] = "2026-11-23T18:05:00Z"
    from stepdeploy.errors import StackLocked

    with pytest.raises(StackLocked):  # first still holds it (its execution is "running": no such execution)
        boto3  # noqa: B018
        from stepdeploy.aws import ledger as ledger_module

        ledger_module.ledger().acquire_lock(
            stack="sample-prod", owner=newer["execution"]["Id"], commit="b" * 40,
            requested_at="2026-11-23T18:10:00Z", mode="superseded", lease_seconds=600, is_running=lambda arn: True,
        )
    with pytest.raises(Superseded, match="superseded by commit bbbbbbb"):
        from stepdeploy.aws import ledger as ledger_module

        ledger_module.ledger().acquire_lock(
            stack="sample-prod", owner=older["execution"]["Id"], commit="c" * 40,
            requested_at="2026-11-23T18:05:00Z", mode="superseded", lease_seconds=600, is_running=lambda arn: True,
        )


def test_dead_owner_lock_is_broken(orchestrator):
    from stepdeploy.aws.ledger import ledger

    ledger().acquire_lock(stack="s", owner="dead", commit="a", requested_at="1", mode="queued",
                          lease_seconds=600, is_running=lambda arn: True)
    taken = ledger().acquire_lock(stack="s", owner="alive", commit="b", requested_at="2", mode="queued",
                                  lease_seconds=600, is_running=lambda arn: arn != "dead")
    assert taken["owner"] == "alive"


@pytest.mark.parametrize("replay", [False, True])
def test_acquire_lock_refuses_a_push_older_than_the_deployed_commit_unless_replayed(orchestrator, monkeypatch, replay):
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.ghe.api import GheApi

    event = load_event("acquire_lock")
    older = event["document"]["request"]["commit"]
    deployed = "d" * 40
    ledger().record_release({"stack": "sample-prod", "execution_arn": "arn:aws:states:us-east-1:1:execution:x:newer",
                             "execution_name": "newer", "started_at": "2026-11-23T18:00:00Z",
                             "repository": "platform/sample-app", "commit": deployed, "outcome": "Deployed"})
    asked = []

    def compare(self, repository, base, head):
        asked.append((repository, base, head))
        return "ahead"  # the deployed commit is ahead of (contains) this push's commit

    monkeypatch.setattr(GheApi, "compare", compare)
    if replay:
        event["document"]["replay_of"] = "arn:aws:states:us-east-1:1:execution:x:older"
        out = load_handler("acquire_lock").handler(event, Context())
        assert out["lock"]["owner"] == event["execution"]["Id"] and asked == []
        return
    with pytest.raises(Superseded, match=f"superseded by commit ddddddd, pushed after {older[:7]}.*delivered late"):
        load_handler("acquire_lock").handler(event, Context())
    assert asked == [("platform/sample-app", older, deployed)]
    assert ledger().lock_holder("sample-prod") is None  # nothing taken


def test_a_refused_token_is_counted_as_rejected(ghe, tmp_path, capsys):
    sha = pushed_commit(ghe, tmp_path)
    ghe.token = "another-token"
    event = lock_event(sha, "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:four")
    load_handler("acquire_lock").handler(event, Context())
    failures = [line for line in emf_lines(capsys) if "GheRejected" in line or "GheUnavailable" in line]
    assert [("GheRejected" in f, "401" in f["reason"]) for f in failures] == [(True, True)]


# --- waiting for the lock: in the state machine, while the holder may hold it -----------------------
def test_the_wait_interval_grows_with_the_wait_and_is_bounded():
    assert lock_wait_seconds(0) == MIN_LOCK_WAIT_SECONDS
    assert lock_wait_seconds(1800) == 180
    assert lock_wait_seconds(7 * 86400) == MAX_LOCK_WAIT_SECONDS
    waited, loops = 0, 0
    while waited < 7 * 86400:  # a week-long approval ahead: about a thousand loops, far below history limits
        waited += lock_wait_seconds(waited)
        loops += 1
    assert loops < 1100


def _holder(orchestrator, monkeypatch, lease_seconds: int, running: bool):
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.tasks import acquire_lock as task

    ledger().acquire_lock(stack="sample-prod", owner="arn:aws:states:us-east-1:1:execution:m:holder", commit="h" * 40,
                          requested_at="2026-11-23T17:00:00Z", mode="queued", lease_seconds=lease_seconds,
                          is_running=lambda arn: True)
    monkeypatch.setattr(task, "execution_is_running", lambda arn: running)


def test_a_waiter_waits_in_the_state_machine_while_the_holder_may_hold_the_lock(orchestrator, monkeypatch):
    _holder(orchestrator, monkeypatch, lease_seconds=3600, running=True)
    event = load_event("acquire_lock")
    event["document"]["request"]["target"]["concurrency"] = "queued"
    out = load_handler("acquire_lock").handler(event, Context())
    assert "lock" not in out
    first = out["lock_wait"]
    assert first["holder"].endswith(":holder") and first["seconds"] == MIN_LOCK_WAIT_SECONDS and first["checks"] == 1
    again = copy.deepcopy(event)
    again["document"] = out
    second = load_handler("acquire_lock").handler(again, Context())["lock_wait"]
    assert second["checks"] == 2 and second["waited_seconds"] == first["seconds"] and second["since"] == first["since"]


def test_a_waiter_gives_up_when_a_running_holder_outstays_its_lease(orchestrator, monkeypatch):
    _holder(orchestrator, monkeypatch, lease_seconds=-10, running=True)
    with pytest.raises(StackLocked, match="gave up waiting for the lock.*lease has expired"):
        load_handler("acquire_lock").handler(load_event("acquire_lock"), Context())


def test_a_dead_holder_past_its_lease_is_replaced(orchestrator, monkeypatch):
    _holder(orchestrator, monkeypatch, lease_seconds=-10, running=False)
    event = load_event("acquire_lock")
    out = load_handler("acquire_lock").handler(event, Context())
    assert out["lock"]["owner"] == event["execution"]["Id"] and "lock_wait" not in out


def test_a_rollback_lock_is_held_by_its_lease_not_by_an_execution(orchestrator):
    from stepdeploy.aws.ledger import ledger

    ledger().take_lock("sample-prod", "rollback:sample-prod:20260101T000000000Z", 600, lambda arn: False)
    with pytest.raises(StackLocked) as refused:
        ledger().acquire_lock(stack="sample-prod", owner="arn:aws:states:us-east-1:1:execution:m:x", commit="c",
                              requested_at="1", mode="queued", lease_seconds=600, is_running=lambda arn: False)
    assert not refused.value.overdue
    assert ledger().release_lock("sample-prod", "rollback:sample-prod:20260101T000000000Z")
    ledger().take_lock("sample-prod", "rollback:sample-prod:20260101T000000001Z", -10, lambda arn: False)
    taken = ledger().take_lock("sample-prod", "rollback:sample-prod:20260101T000000002Z", 600, lambda arn: False)
    assert taken["owner"].endswith("002Z")  # a crashed rollback's lock lapses with its lease


def test_a_newer_push_wakes_the_waiter_it_supersedes(orchestrator, monkeypatch):
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.tasks import acquire_lock as task

    _holder(orchestrator, monkeypatch, lease_seconds=3600, running=True)
    older = load_event("acquire_lock")
    waiting = load_handler("acquire_lock").handler(older, Context())
    assert "lock_wait" in waiting
    ledger().add_lock_waiter("sample-prod", older["execution"]["Id"], {"task_token": "older-token",
                                                                      "mode": "superseded"}, 600)
    woken: list[tuple[str, str, str]] = []
    monkeypatch.setattr(task, "wake_superseded", lambda stack, arn, by: woken.append((stack, arn, by)))
    newer = copy.deepcopy(older)
    newer["execution"]["Id"] = older["execution"]["Id"] + "-newer"
    newer["document"]["request"]["requested_at"] = "2026-11-23T18:10:00Z"
    assert "lock_wait" in load_handler("acquire_lock").handler(newer, Context())
    assert woken == [("sample-prod", older["execution"]["Id"], newer["execution"]["Id"])]
    load_handler("acquire_lock").handler(newer, Context())  # asking again replaces nobody: no wake-up
    assert len(woken) == 1
