"""Wait for lock against moto's DynamoDB: the waiter's task token is kept where whoever frees the lock finds it;
when the lock changed between Acquire lock's refusal and this registration, the waiter wakes itself at once.
Waking (``stepdeploy.release.recovery``): the queue's first live waiter only, every superseded-mode one, gone tokens
forgotten."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler

STACK = "sample-prod"
HOLDER = "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:holder"


class Tokens:
    """A Step Functions client that records SendTaskSuccess; tokens in ``gone`` answer as AWS does for a wait
    that is already over."""

    def __init__(self, gone: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.gone = gone

    def send_task_success(self, taskToken: str, output: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        if taskToken in self.gone:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "task timed out"}}, "SendTaskSuccess")
        self.sent.append((taskToken, json.loads(output)))
        return {}


@pytest.fixture()
def tokens(monkeypatch: pytest.MonkeyPatch) -> Tokens:
    from stepdeploy.tasks import wait_for_lock as task

    recorder = Tokens()
    monkeypatch.setattr(task, "client", lambda service: recorder)
    return recorder


def hold(owner: str = HOLDER) -> None:
    from stepdeploy.aws.ledger import ledger

    ledger().acquire_lock(stack=STACK, owner=owner, commit="a" * 40, requested_at="2026-11-23T17:00:00Z",
                          mode="queued", lease_seconds=3600, is_running=lambda arn: True)


def test_the_waiter_keeps_its_token_and_sleeps_while_nothing_changed(orchestrator, tokens):
    from stepdeploy.aws.ledger import ledger

    hold()
    event = load_event("wait_for_lock")
    ledger().table.put_item(Item={"pk": f"stack#{STACK}", "sk": "latest", "owner": event["execution"]["Id"],
                                  "requested_at": "2026-11-23T18:00:01Z"})
    load_handler("wait_for_lock").handler(event, Context())
    waiter = ledger().lock_waiter(STACK, event["execution"]["Id"])
    assert waiter is not None and waiter["task_token"] == event["execution"]["task_token"]
    assert waiter["mode"] == "superseded" and waiter["requested_at"] == "2026-11-23T18:00:01Z"
    assert tokens.sent == []  # asleep: woken by the holder, or at its time-out


@pytest.mark.parametrize("meanwhile", ["freed", "taken by another", "newer push"])
def test_the_waiter_wakes_itself_when_the_lock_changed_before_it_registered(orchestrator, tokens, meanwhile):
    from stepdeploy.aws.ledger import ledger

    event = load_event("wait_for_lock")
    me = event["execution"]["Id"]
    latest = me if meanwhile != "newer push" else f"{me}-newer"
    ledger().table.put_item(Item={"pk": f"stack#{STACK}", "sk": "latest", "owner": latest,
                                  "requested_at": "2026-11-23T18:00:01Z"})
    if meanwhile == "taken by another":
        hold(f"{HOLDER}-next")
    elif meanwhile == "newer push":
        hold()
    load_handler("wait_for_lock").handler(event, Context())
    assert [token for token, _ in tokens.sent] == [event["execution"]["task_token"]]
    reason = tokens.sent[0][1]["reason"]
    expected = {"freed": "the lock is now free", "taken by another": f"held by {HOLDER}-next",
                "newer push": "a newer push registered"}[meanwhile]
    assert expected in reason
    assert ledger().lock_waiter(STACK, me) is None  # its wait is over


def test_wait_for_lock_needs_the_task_token(orchestrator, tokens):
    event = load_event("wait_for_lock")
    del event["execution"]["task_token"]
    with pytest.raises(ValueError, match=r"\$\$.Task.Token"):
        load_handler("wait_for_lock").handler(event, Context())


def waiter(name: str, requested_at: str, mode: str) -> tuple[str, dict[str, Any]]:
    arn = f"arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:{name}"
    return arn, {"task_token": f"token-{name}", "requested_at": requested_at, "mode": mode}


def test_freeing_the_lock_wakes_the_first_live_queued_waiter_and_every_superseded_one(orchestrator):
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.release.recovery import wake_lock_waiters

    for arn, item in (waiter("third", "2026-11-23T18:03:00Z", "queued"),
                      waiter("gone", "2026-11-23T18:01:00Z", "queued"),
                      waiter("second", "2026-11-23T18:02:00Z", "queued"),
                      waiter("newest", "2026-11-23T18:04:00Z", "superseded")):
        ledger().add_lock_waiter(STACK, arn, item, 600)
    sfn = Tokens(gone=("token-gone",))
    woken = wake_lock_waiters(STACK, by=HOLDER, reason="holder ended Deployed", sfn=sfn)
    assert [arn.rsplit(":", 1)[-1] for arn in woken] == ["second", "newest"]
    assert [token for token, _ in sfn.sent] == ["token-second", "token-newest"]
    assert sfn.sent[0][1] == {"by": HOLDER, "reason": "holder ended Deployed"}
    left = sorted(str(w["execution_arn"]).rsplit(":", 1)[-1] for w in ledger().lock_waiters(STACK))
    assert left == ["third"]  # its turn comes when "second" frees the lock; the gone one is forgotten
