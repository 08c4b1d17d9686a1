"""Webhook handler against moto: a signed GHE push becomes one event on the bus; refusals put nothing there."""

from __future__ import annotations

import copy
import json

import boto3
import pytest

from stepdeploy.ghe.payloads import signature_of

from .conftest import Context, load_event, load_handler

pytestmark = pytest.mark.handler
SECRET = "It's a Secret to Everybody"


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
