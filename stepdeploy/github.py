"""GitHub Enterprise webhooks: the signature check and the push event we put on the bus.

Pure functions, no I/O: the webhook handler feeds them the raw request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict

SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = "sha256="
ZERO_SHA = "0" * 40
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
MAX_MESSAGE_CHARS = 1000


class WebhookRejected(Exception):
    """A request the webhook refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature_of(body: bytes, secret: str) -> str:
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secrets: Iterable[str]) -> None:
    """Accept only ``sha256=<hex>`` matching one of the secrets (two during rotation)."""
    if not header:
        raise WebhookRejected(401, "missing X-Hub-Signature-256 header; configure a secret on the webhook")
    if not header.startswith(SIGNATURE_PREFIX) or not _HEX_DIGEST.match(header[len(SIGNATURE_PREFIX) :]):
        raise WebhookRejected(401, "X-Hub-Signature-256 must be 'sha256=' followed by 64 lower-case hex digits")
    candidates = [s for s in secrets if s]
    if not candidates:
        raise WebhookRejected(500, "no webhook secret is configured")
    # compare_digest against every secret, so timing doesn't tell which one is in use
    matches = [hmac.compare_digest(signature_of(body, secret), header) for secret in candidates]
    if not any(matches):
        raise WebhookRejected(401, "signature does not match the request body")


def payload_from_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """JSON bodies, or form-encoded bodies with the JSON in the ``payload`` field."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    try:
        if media_type == "application/json":
            data = json.loads(body)
        elif media_type == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
            if "payload" not in fields:
                raise WebhookRejected(400, "form-encoded body has no 'payload' field")
            data = json.loads(fields["payload"][0])
        else:
            raise WebhookRejected(
                415, f"content type {media_type or '(none)'!r} is not supported; use application/json"
            )
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected(400, f"body is not valid {media_type or 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, "payload must be a JSON object")
    return data


class PushEvent(BaseModel):
    """The trimmed push we put on the bus: what the pipeline needs, far below 256 KB."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str
    repository: str
    ref: str
    before: str
    after: str
    created: bool
    deleted: bool
    forced: bool
    pusher: str | None
    sender: str | None
    clone_url: str
    html_url: str | None
    head_commit_message: str | None
    head_commit_timestamp: str | None
    commit_count: int
    enterprise_host: str | None

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith("refs/tags/")


def _require(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise WebhookRejected(400, f"push payload: '{key}' must be a {kind.__name__}")
    return value


def parse_push(payload: dict[str, Any], *, delivery_id: str, enterprise_host: str | None) -> PushEvent:
    repository = _require(payload, "repository", dict)
    full_name = _require(repository, "full_name", str)
    ref = _require(payload, "ref", str)
    before = _require(payload, "before", str)
    after = _require(payload, "after", str)
    for name, sha in (("before", before), ("after", after)):
        if not _COMMIT_SHA.match(sha):
            raise WebhookRejected(400, f"push payload: '{name}' must be a 40-hex commit id")
    if not ref.startswith("refs/"):
        raise WebhookRejected(400, "push payload: 'ref' must start with refs/")
    head = payload.get("head_commit") if isinstance(payload.get("head_commit"), dict) else None
    commits = payload.get("commits") if isinstance(payload.get("commits"), list) else []
    pusher = payload.get("pusher") if isinstance(payload.get("pusher"), dict) else {}
    sender = payload.get("sender") if isinstance(payload.get("sender"), dict) else {}
    clone_url = repository.get("clone_url")
    if not isinstance(clone_url, str) or not clone_url.startswith(("https://", "http://")):
        raise WebhookRejected(400, "push payload: 'repository.clone_url' must be an http(s) URL")
    message = head.get("message") if head else None
    return PushEvent(
        delivery_id=delivery_id,
        repository=full_name,
        ref=ref,
        before=before,
        after=after,
        created=bool(payload.get("created")),
        deleted=bool(payload.get("deleted")) or after == ZERO_SHA,
        forced=bool(payload.get("forced")),
        pusher=pusher.get("name") if isinstance(pusher.get("name"), str) else None,
        sender=sender.get("login") if isinstance(sender.get("login"), str) else None,
        clone_url=clone_url,
        html_url=repository.get("html_url") if isinstance(repository.get("html_url"), str) else None,
        head_commit_message=message[:MAX_MESSAGE_CHARS] if isinstance(message, str) else None,
        head_commit_timestamp=head.get("timestamp") if head and isinstance(head.get("timestamp"), str) else None,
        commit_count=len(commits),
        enterprise_host=enterprise_host,
    )
