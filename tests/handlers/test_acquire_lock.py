"""Acquire lock against moto's DynamoDB: one execution per stack, newer pushes win, late ones are refused;
and what it tells GHE (a local GHE served over HTTP) when it takes the lock.
"""

from __future__ import annotations

import copy

import boto3
import pytest

from stepdeploy.errors import Superseded

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
