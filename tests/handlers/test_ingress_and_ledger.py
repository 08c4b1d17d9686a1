"""webhook, resolve_request, acquire_lock and record_release handlers against moto."""

from __future__ import annotations

import copy
import io
import json
import zipfile

import boto3
import pytest

from stepdeploy.errors import ConfigurationError, Superseded
from stepdeploy.ghe_api import GheApi
from stepdeploy.github import signature_of

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler
SECRET = "It's a Secret to Everybody"
CONFIG = b"version: 1\ntargets:\n  - {branch: main, stack: sample-prod}\n"


def bus_queue() -> str:
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = json.dumps({"source": ["stepdeploy.ghe"]})
    events.put_rule(Name="tap", EventBusName="stepdeploy-events", EventPattern=pattern)
    events.put_targets(Rule="tap", EventBusName="stepdeploy-events", Targets=[{"Id": "q", "Arn": arn}])
    return url


def received(url: str) -> list[dict]:
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def signed(event: dict, body: str, **headers: str) -> dict:
    event = copy.deepcopy(event)
    event["body"] = body
    event["headers"]["x-hub-signature-256"] = signature_of(body.encode(), SECRET)
    event["headers"].update(headers)
    return event


def test_webhook_accepts_signed_push_once(orchestrator):
    url = bus_queue()
    webhook = load_handler("webhook")
    event = load_event("webhook")
    first = webhook.handler(event, Context())
    assert first["statusCode"] == 202, first
    again = webhook.handler(event, Context())
    assert again["statusCode"] == 200 and "duplicate" in again["body"]
    events = received(url)
    assert len(events) == 1
    assert events[0]["detail-type"] == "GHE Push"
    assert events[0]["detail"]["repository"] == "platform/sample-app"
    assert len(json.dumps(events[0])) < 16 * 1024


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        (lambda e: e["headers"].pop("x-hub-signature-256"), 401, "missing X-Hub-Signature-256"),
        (lambda e: e.update(body=e["body"] + " "), 401, "does not match"),
        (lambda e: e["headers"].update({"x-hub-signature-256": "sha1=abc"}), 401, "sha256="),
        (lambda e: e["requestContext"]["http"].update(method="GET"), 405, "POST"),
        (lambda e: e["headers"].update({"x-github-enterprise-host": "evil.example.com"}), 403, "GHE host"),
    ],
)
def test_webhook_refusals_start_nothing(orchestrator, change, status, words):
    url = bus_queue()
    webhook = load_handler("webhook")
    event = load_event("webhook")
    change(event)
    answer = webhook.handler(event, Context())
    assert answer["statusCode"] == status
    assert words in json.loads(answer["body"])["message"]
    assert received(url) == []


def test_webhook_ping_and_other_events(orchestrator):
    url = bus_queue()
    webhook = load_handler("webhook")
    base = load_event("webhook")
    ping = webhook.handler(signed(base, '{"zen": "Keep it simple."}', **{"x-github-event": "ping"}), Context())
    assert ping["statusCode"] == 200 and "pong" in ping["body"]
    issue = webhook.handler(signed(base, '{"action": "opened"}', **{"x-github-event": "issues"}), Context())
    assert issue["statusCode"] == 202 and "ignored" in issue["body"]
    assert received(url) == []


def test_webhook_unknown_repository_refused(orchestrator):
    url = bus_queue()
    webhook = load_handler("webhook")
    base = load_event("webhook")
    payload = json.loads(base["body"])
    payload["repository"]["full_name"] = "someone/else"
    answer = webhook.handler(signed(base, json.dumps(payload)), Context())
    assert answer["statusCode"] == 403 and "someone/else" in answer["body"]
    assert received(url) == []


def fake_ghe(monkeypatch, files: dict[str, bytes | None]) -> None:
    monkeypatch.setattr(GheApi, "file_at", lambda self, repo, path, ref: files.get(path))


def test_resolve_push_reads_config_at_commit(orchestrator, monkeypatch):
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG, "buildspec.yml": b"version: 0.2"})
    out = load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())
    request = out["request"]
    assert not request.get("skip") and request["target"]["stack"] == "sample-prod"
    assert "buildspec" not in request  # the repository has its own


def test_resolve_push_without_buildspec_uses_default(orchestrator, monkeypatch):
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG})
    out = load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())
    assert "sam build" in out["request"]["buildspec"]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d.update(deleted=True), "deleted"),
        (lambda d: d.update(ref="refs/tags/v1"), "not a branch"),
        (lambda d: d.update(ref="refs/heads/unlisted"), "matches no target"),
        (lambda d: d.update(repository="other/repo"), "allow-list"),
    ],
)
def test_resolve_push_skips_with_reason(orchestrator, monkeypatch, edit, reason):
    fake_ghe(monkeypatch, {"stepdeploy.yml": CONFIG})
    event = load_event("resolve_request-push")
    edit(event["document"]["event"]["detail"])
    out = load_handler("resolve_request").handler(event, Context())
    assert out["request"]["skip"] is True and reason in out["request"]["reason"]


def test_resolve_push_bad_config_names_key(orchestrator, monkeypatch):
    fake_ghe(monkeypatch, {"stepdeploy.yml": b"version: 1\ntargets: [{branch: main, stack: x, colour: red}]"})
    with pytest.raises(ConfigurationError, match=r"stepdeploy.yml: targets\[0\].colour: is not a known key"):
        load_handler("resolve_request").handler(load_event("resolve_request-push"), Context())


def upload(key: str, files: dict[str, bytes], **metadata: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    boto3.client("s3").put_object(Bucket="stepdeploy-artifacts", Key=key, Body=buffer.getvalue(), Metadata=metadata)


def test_resolve_upload(orchestrator):
    upload("uploads/platform/sample-app/release-1.zip", {"stepdeploy.yml": CONFIG}, commit="abc1234")
    out = load_handler("resolve_request").handler(load_event("resolve_request-upload"), Context())
    assert out["request"]["target"]["stack"] == "sample-prod"
    assert out["request"]["commit"] == "abc1234"
    assert out["request"]["artifact"]["key"] == "uploads/platform/sample-app/release-1.zip"


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


def test_record_failure_writes_ledger_and_frees_lock(orchestrator):
    from stepdeploy.aws.ledger import ledger

    event = load_event("record_release-failure")
    owner = event["execution"]["Id"]
    ledger().acquire_lock(stack="sample-prod", owner=owner, commit="a", requested_at="1", mode="superseded",
                          lease_seconds=600, is_running=lambda arn: True)
    handler = load_handler("record_release").handler
    out = handler(event, Context())
    assert out["release"]["outcome"] == "BuildFailed"
    assert ledger().lock_holder("sample-prod") is None
    handler(event, Context())  # a retry adds nothing
    releases = ledger().releases_of("sample-prod")
    assert len(releases) == 1 and releases[0]["error"] == "BuildFailed"
    assert ledger().latest_releases()[0]["outcome"] == "BuildFailed"


@pytest.mark.parametrize("replay", [False, True])
def test_acquire_lock_refuses_a_push_older_than_the_deployed_commit_unless_replayed(orchestrator, monkeypatch, replay):
    from stepdeploy.aws.ledger import ledger
    from stepdeploy.ghe_api import GheApi

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
