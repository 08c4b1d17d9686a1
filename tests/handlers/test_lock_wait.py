"""Acquire lock waits in the state machine while the holder may hold the lock, and gives up only past its lease;
a redrive that takes the lock back checks for newer code; an operator's rollback lock is honoured by lease."""

from __future__ import annotations

import copy
import time

import pytest

from stepdeploy.errors import StackLocked, Superseded
from stepdeploy.recovery import MAX_LOCK_WAIT_SECONDS, MIN_LOCK_WAIT_SECONDS, lock_wait_seconds

from .conftest import Context, load_event, load_handler


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


def test_a_redrive_that_takes_the_lock_back_after_a_newer_release_is_superseded(orchestrator):
    from stepdeploy.aws.ledger import ledger

    locked = load_handler("acquire_lock").handler(load_event("acquire_lock"), Context())
    execution = load_event("acquire_lock")["execution"]
    renew = load_handler("create_change_set").handler  # any lock-holding step
    ledger().release_lock("sample-prod", execution["Id"])  # the finaliser, when the execution failed
    ledger().record_release({"stack": "sample-prod", "execution_arn": "arn:aws:states:us-east-1:1:execution:m:newer",
                             "execution_name": "newer", "started_at": "2999-01-01T00:00:00.000Z",
                             "repository": "platform/sample-app", "commit": "d" * 40, "outcome": "Deployed"})
    with pytest.raises(Superseded, match="redriven after newer .* was deployed to sample-prod"):
        renew({"document": locked, "execution": {**execution, "state": "Create change set"}}, Context())
    holder = ledger().lock_holder("sample-prod")
    assert holder is not None and holder["owner"] == execution["Id"]  # Record superseded frees it
    assert holder["lease_expires_at"] > time.time()
