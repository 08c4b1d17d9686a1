"""The GHE webhook behind a Lambda function URL.

Checks the signature over the raw body before reading anything else, answers ping, ignores events
other than push, drops redeliveries, and puts a trimmed push event on the bus. Every refusal is a
4xx with a short reason; an internal fault is a 5xx so GHE keeps a failed delivery to redeliver.
Neither the raw body nor the secret is ever logged.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

from stepdeploy.aws.clients import client
from stepdeploy.aws.ledger import ledger
from stepdeploy.aws.secrets import current_and_previous
from stepdeploy.github import (
    SIGNATURE_HEADER,
    PushEvent,
    WebhookRejected,
    parse_push,
    payload_from_body,
    verify_signature,
)
from stepdeploy.settings import settings

logger = Logger(service="stepdeploy")

EVENT_SOURCE = "stepdeploy.ghe"
DETAIL_TYPE = "GHE Push"
MAX_BODY_BYTES = 25 * 1024 * 1024


def reply(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": message, **extra}),
    }


def raw_body(event: LambdaFunctionUrlEvent) -> bytes:
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


def put_push_event(push: PushEvent, events: Any = None) -> None:
    response = (events or client("events")).put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": push.model_dump_json(),
                "EventBusName": settings().event_bus_name,
                "Resources": [push.clone_url],
            }
        ]
    )
    if response.get("FailedEntryCount"):
        entry = response["Entries"][0]
        raise RuntimeError(f"EventBridge refused the push event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")


def handle(event: LambdaFunctionUrlEvent) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    if event.request_context.http.method.upper() != "POST":
        raise WebhookRejected(405, "only POST is accepted")
    body = raw_body(event)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, "body larger than GitHub's 25 MB payload limit")
    verify_signature(body, headers.get(SIGNATURE_HEADER), current_and_previous(settings().webhook_secret_arn))
    kind = headers.get("x-github-event", "")
    delivery_id = headers.get("x-github-delivery", "")
    if not delivery_id:
        raise WebhookRejected(400, "missing X-GitHub-Delivery header")
    host = headers.get("x-github-enterprise-host")
    if host and settings().ghe_host and host.lower() != settings().ghe_host.lower():
        raise WebhookRejected(403, f"X-GitHub-Enterprise-Host {host!r} is not the configured GHE host")
    payload = payload_from_body(body, headers.get("content-type"))
    if kind == "ping":
        return reply(200, "pong", zen=payload.get("zen"))
    if kind != "push":
        return reply(202, f"ignored: stepdeploy acts on push events, not {kind or '(no X-GitHub-Event)'}")
    push = parse_push(payload, delivery_id=delivery_id, enterprise_host=host)
    logger.append_keys(delivery=delivery_id, repository=push.repository, commit=push.after, ref=push.ref)
    if not settings().repository_allowed(push.repository):
        raise WebhookRejected(403, f"repository {push.repository} is not allowed to deploy through stepdeploy")
    if not ledger().remember_delivery(delivery_id, push.repository, push.after):
        logger.info("duplicate delivery dropped")
        return reply(200, "duplicate delivery: already accepted", delivery=delivery_id)
    try:
        put_push_event(push)
    except Exception:
        ledger().forget_delivery(delivery_id)  # so that GHE's redelivery is accepted
        raise
    logger.info("push accepted")
    return reply(202, "accepted", delivery=delivery_id, repository=push.repository, commit=push.after)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return handle(LambdaFunctionUrlEvent(event))
    except WebhookRejected as rejected:
        logger.warning("webhook refused", extra={"status": rejected.status, "reason": rejected.reason})
        return reply(rejected.status, rejected.reason)
    except Exception:
        logger.exception("webhook failed")
        return reply(500, "internal error; GHE can redeliver this delivery")
