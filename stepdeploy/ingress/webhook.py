"""The GHE webhook behind a Lambda function URL.

Checks the signature over the raw body before reading anything else, answers ping, ignores events
other than push (and pushes that deploy nothing), drops redeliveries, and puts a trimmed push event
on the bus. Every refusal is a 4xx with a short reason; an internal fault is a 5xx so GHE keeps a
failed delivery to redeliver. Neither the raw body nor the secret is ever logged.

A push is never lost: a delivery counts as seen only once its event is on the bus (the ledger item
is marked ``published``). A redelivery of a delivery that was remembered but never confirmed
published (the function stopped in between) is published again; StartDeployment names executions
after the push, so a second event for the same push starts nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

from stepdeploy.aws.ledger import ledger
from stepdeploy.aws.secrets import current_and_previous
from stepdeploy.ghe.payloads import (
    SIGNATURE_HEADER,
    PushEvent,
    WebhookRejected,
    check_delivery_id,
    check_enterprise_host,
    check_event_name,
    check_origin,
    ignore_reason,
    parse_push,
    payload_from_body,
    verify_signature,
)
from stepdeploy.observability import logger
from stepdeploy.settings import settings

EVENT_SOURCE = "stepdeploy.ghe"
DETAIL_TYPE = "GHE Push"
MAX_BODY_BYTES = 25 * 1024 * 1024
MAX_DETAIL_BYTES = 32 * 1024
"""The trimmed event is a few KB; this guard keeps it far below EventBridge's 256 KB."""

# The function's timeout is 10 s: a publish must fail inside it, so that the delivery is forgotten
# and GHE records a failure, rather than the function being stopped with the delivery remembered.
PUBLISH_CONFIG: dict[str, Any] = {"connect_timeout": 2, "read_timeout": 3,
                                  "retries": {"mode": "standard", "max_attempts": 2}}


@cache
def events_client() -> Any:
    import boto3  # at the first publish, not at import (stepdeploy.aws.clients)
    from botocore.config import Config

    return boto3.client("events", config=Config(**PUBLISH_CONFIG))


def reply(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": message, **extra}),
    }


def raw_body(event: LambdaFunctionUrlEvent) -> bytes:
    body = event.body or ""
    if not event.is_base64_encoded:
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:
            raise WebhookRejected(400, "body is not valid UTF-8 text") from None
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected(400, "body is marked base64 but is not valid base64") from None


def put_push_event(push: PushEvent) -> None:
    detail = push.model_dump_json()
    if len(detail.encode()) > MAX_DETAIL_BYTES:
        raise RuntimeError(f"the trimmed push event is {len(detail.encode())} bytes; at most {MAX_DETAIL_BYTES}")
    response = events_client().put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": detail,
                "EventBusName": settings().event_bus_name,
                "Resources": [push.clone_url],
            }
        ]
    )
    if response.get("FailedEntryCount"):
        entry = response["Entries"][0]
        raise RuntimeError(f"EventBridge refused the push event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")


# --- the delivery's ledger item: seen, then published ---------------------------------------------
def _delivery_key(delivery_id: str) -> dict[str, str]:
    return {"pk": f"delivery#{delivery_id}", "sk": "delivery"}


def delivery_published(delivery_id: str) -> bool:
    item = ledger().table.get_item(Key=_delivery_key(delivery_id), ConsistentRead=True).get("Item")
    return bool(item and item.get("published"))


def mark_published(delivery_id: str) -> None:
    ledger().table.update_item(
        Key=_delivery_key(delivery_id),
        UpdateExpression="SET published = :yes",
        ExpressionAttributeValues={":yes": True},
    )


def accept_push(push: PushEvent) -> dict[str, Any]:
    delivery_id = push.delivery_id
    first = ledger().remember_delivery(delivery_id, push.repository, push.after)
    if not first:
        if delivery_published(delivery_id):
            logger.info("duplicate delivery dropped")
            return reply(200, "duplicate delivery: already accepted", delivery=delivery_id)
        logger.warning("delivery seen but never confirmed published; publishing again (deduplicated downstream)")
    try:
        put_push_event(push)
    except Exception:
        if first:
            ledger().forget_delivery(delivery_id)  # so that GHE's redelivery is accepted
        raise
    try:
        mark_published(delivery_id)
    except Exception:  # the event is on the bus; a redelivery would publish again, deduplicated downstream
        logger.exception("could not mark the delivery published")
    logger.info("push accepted", extra={"forced": push.forced})
    return reply(202, "accepted", delivery=delivery_id, repository=push.repository, commit=push.after)


def handle(event: LambdaFunctionUrlEvent) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    if event.request_context.http.method.upper() != "POST":
        raise WebhookRejected(405, "only POST is accepted")
    body = raw_body(event)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, "body larger than GitHub's 25 MB payload limit")
    verify_signature(body, headers.get(SIGNATURE_HEADER), current_and_previous(settings().webhook_secret_arn))
    # Authenticated from here on; still nothing is trusted further than it is checked.
    delivery_id = check_delivery_id(headers.get("x-github-delivery"))
    kind = check_event_name(headers.get("x-github-event"))
    logger.append_keys(delivery=delivery_id, github_event=kind)
    host = headers.get("x-github-enterprise-host")
    check_enterprise_host(host, settings().ghe_host)
    payload = payload_from_body(body, headers.get("content-type"))
    if kind == "ping":
        zen = payload.get("zen")
        return reply(200, "pong", zen=zen[:200] if isinstance(zen, str) else None)
    if kind != "push":
        return reply(202, f"ignored: stepdeploy acts on push events, not {kind}")
    push = parse_push(payload, delivery_id=delivery_id, enterprise_host=host)
    logger.append_keys(repository=push.repository, commit=push.after, ref=push.ref)
    check_origin(push, settings().ghe_host)
    if not settings().repository_allowed(push.repository):
        raise WebhookRejected(403, f"repository {push.repository} is not allowed to deploy through stepdeploy")
    ignored = ignore_reason(push)
    if ignored:
        logger.info("push ignored", extra={"reason": ignored})
        return reply(202, f"ignored: {ignored}", delivery=delivery_id)
    return accept_push(push)


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return handle(LambdaFunctionUrlEvent(event))
    except WebhookRejected as rejected:
        logger.warning("webhook refused", extra={"status": rejected.status, "reason": rejected.reason})
        return reply(rejected.status, rejected.reason)
    except Exception:
        logger.exception("webhook failed")
        return reply(500, "internal error; GHE can redeliver this delivery")
