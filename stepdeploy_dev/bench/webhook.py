"""The webhook's time per request, in process against moto (``make bench`` runs it: stepdeploy_dev.bench.functions).

moto is a development dependency: it is imported only when measuring, never by the Lambda layer.

- Per request: the real handler (functions/webhook/app.py) with moto standing in for Secrets
  Manager, DynamoDB and EventBridge, so the figure is our code plus boto3's request building and
  moto's in-process answer, without network latency. Accepted pushes (each a new delivery of a new
  commit: signature, ledger write, publish, ledger update) and refused ones (bad signature).
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stepdeploy_dev.bench.stats import percentile

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_DIR = ROOT / "functions" / "webhook"
SECRET = "bench-secret"
_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "TABLE_NAME": "bench-table",
    "EVENT_BUS_NAME": "bench-events",
    "ALLOWED_REPOSITORIES": "platform/sample-app:sample-*",
    "GHE_HOST": "ghe.example.com",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}
FUNCTION_ENVIRONMENT = _ENVIRONMENT  # what a function may read at import; stepdeploy_dev.bench imports every function




def _summary(durations_ms: list[float]) -> dict[str, float]:
    return {
        "mean_ms": round(statistics.fmean(durations_ms), 3),
        "p50_ms": round(statistics.median(durations_ms), 3),
        "p99_ms": round(percentile(durations_ms, 0.99), 3),
        "max_ms": round(max(durations_ms), 3),
    }


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in [*values, "AWS_ENDPOINT_URL", "WEBHOOK_SECRET_ARN"]}
    os.environ.update(values)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _clear_caches() -> None:
    from stepdeploy.aws import clients, ledger, secrets
    from stepdeploy.ingress import webhook
    from stepdeploy.settings import settings

    for cached in (settings, clients.client, ledger.ledger, webhook.events_client):
        cached.cache_clear()
    secrets.clear_cache()


def _push_event(commit: str, secret: str) -> dict[str, Any]:
    from stepdeploy.ghe.payloads import signature_of

    payload = {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": commit,
        "created": False,
        "deleted": False,
        "forced": False,
        "repository": {
            "full_name": "platform/sample-app",
            "clone_url": "https://ghe.example.com/platform/sample-app.git",
            "html_url": "https://ghe.example.com/platform/sample-app",
        },
        "pusher": {"name": "ada"},
        "sender": {"login": "ada"},
        "head_commit": {"id": commit, "message": "A change", "timestamp": "2026-11-23T18:00:00Z"},
        "commits": [{"id": commit, "message": "A change"}],
    }
    body = json.dumps(payload)
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": {
            "content-type": "application/json",
            "x-github-event": "push",
            "x-github-delivery": str(uuid.uuid4()),
            "x-github-enterprise-host": "ghe.example.com",
            "x-hub-signature-256": signature_of(body.encode(), secret),
        },
        "requestContext": {"http": {"method": "POST", "path": "/", "sourceIp": "192.0.2.1"}, "requestId": "r"},
        "body": body,
        "isBase64Encoded": False,
    }


class _Context:
    function_name = "bench-webhook"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-webhook"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def request_times(requests: int = 300) -> dict[str, Any]:
    """p50/p99 of the webhook handler per request, accepted and refused, in process against moto."""
    import boto3
    from moto import mock_aws

    with _environment(_ENVIRONMENT), mock_aws():
        from stepdeploy.aws.ledger import create_ledger_table

        create_ledger_table(boto3.client("dynamodb"), _ENVIRONMENT["TABLE_NAME"])
        boto3.client("events").create_event_bus(Name=_ENVIRONMENT["EVENT_BUS_NAME"])
        arn = boto3.client("secretsmanager").create_secret(Name="bench-webhook", SecretString=SECRET)["ARN"]
        os.environ["WEBHOOK_SECRET_ARN"] = arn
        _clear_caches()
        from stepdeploy.ingress.webhook import handler

        context = _Context()
        try:
            started = time.perf_counter()
            first = handler(_push_event(uuid.uuid4().hex + "0" * 8, SECRET), context)
            first_ms = (time.perf_counter() - started) * 1000
            if first["statusCode"] != 202:
                raise RuntimeError(f"the benchmark's push was not accepted: {first}")
            accepted, refused = [], []
            for _ in range(requests):
                event = _push_event(uuid.uuid4().hex + "0" * 8, SECRET)
                started = time.perf_counter()
                answer = handler(event, context)
                accepted.append((time.perf_counter() - started) * 1000)
                forged = _push_event(uuid.uuid4().hex + "0" * 8, "not-the-secret")
                started = time.perf_counter()
                refusal = handler(forged, context)
                refused.append((time.perf_counter() - started) * 1000)
                if (answer["statusCode"], refusal["statusCode"]) != (202, 401):
                    raise RuntimeError(f"unexpected answers during the benchmark: {answer}, {refusal}")
        finally:
            _clear_caches()
    return {
        "requests": requests,
        "first_request_ms": round(first_ms, 3),
        "accepted": _summary(accepted),
        "refused": _summary(refused),
    }
