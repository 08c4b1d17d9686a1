"""GitHub Enterprise webhooks: the signature check, request parsing and the push event we put on the bus.

Pure functions, no I/O: the webhook handler feeds them the raw request. Everything a sender controls
is bounded and checked here, so the event on the bus is small and every field in it is well formed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict

SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = "sha256="
ZERO_SHA = "0" * 40
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_EVENT_NAME = re.compile(r"^[a-z_]{1,64}$")
# GitHub owners: letters, digits, '-'; repositories also '_' and '.'.
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
MAX_MESSAGE_CHARS = 1000
MAX_NAME_CHARS = 100
MAX_REF_BYTES = 255
MAX_URL_CHARS = 2048
MAX_FORM_FIELDS = 20
MAX_SHOWN_CHARS = 80
"""How much of a sender's value a refusal repeats."""

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


class WebhookRejected(Exception):
    """A request the webhook refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def shown(value: object) -> str:
    """A sender's value as a refusal quotes it: repr, cut short."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


# --- signature ---------------------------------------------------------------------------------
def signature_of(body: bytes, secret: str) -> str:
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secrets: Iterable[str]) -> None:
    """Accept only ``sha256=<hex>`` matching one of the secrets (two during rotation); never SHA-1."""
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


# --- headers -----------------------------------------------------------------------------------
def check_delivery_id(delivery_id: str | None) -> str:
    if not delivery_id:
        raise WebhookRejected(400, "missing X-GitHub-Delivery header")
    if not _DELIVERY_ID.match(delivery_id):
        raise WebhookRejected(400, f"X-GitHub-Delivery {shown(delivery_id)} is not a delivery id (a GUID)")
    return delivery_id


def check_event_name(kind: str | None) -> str:
    if not kind:
        raise WebhookRejected(400, "missing X-GitHub-Event header")
    if not _EVENT_NAME.match(kind):
        raise WebhookRejected(400, f"X-GitHub-Event {shown(kind)} is not an event name")
    return kind


def _host_of(url_or_host: str) -> str:
    return url_or_host.strip().lower().rstrip("/")


def check_enterprise_host(header: str | None, ghe_host: str) -> None:
    """GHE names itself in X-GitHub-Enterprise-Host; deliveries from anywhere else are refused."""
    if not ghe_host:
        return
    if not header:
        raise WebhookRejected(403, "missing X-GitHub-Enterprise-Host header; only the configured GHE host may deliver")
    if _host_of(header) != _host_of(ghe_host):
        raise WebhookRejected(403, f"X-GitHub-Enterprise-Host {shown(header)} is not the configured GHE host")


# --- body --------------------------------------------------------------------------------------
def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"key {shown(key)} appears twice in one object")
        seen.add(key)
    return dict(pairs)


def _loads(text: str | bytes) -> Any:
    # Duplicate keys are refused: two parsers must never read two different pushes from one signed body.
    return json.loads(text, object_pairs_hook=_unique_keys)


def payload_from_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """JSON bodies, or form-encoded bodies with the JSON in the ``payload`` field."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    try:
        if media_type == JSON_TYPE:
            data = _loads(body)
        elif media_type == FORM_TYPE:
            fields = parse_qs(
                body.decode("utf-8"), strict_parsing=True, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
            )
            values = fields.get("payload", [])
            if len(values) != 1:
                raise WebhookRejected(400, "form-encoded body must carry exactly one 'payload' field")
            data = _loads(values[0])
        else:
            raise WebhookRejected(
                415, f"content type {media_type or '(none)'!r} is not supported; use {JSON_TYPE} or {FORM_TYPE}"
            )
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected(400, f"body is not valid {media_type}: {str(exc)[:120]}") from None
    except RecursionError:
        raise WebhookRejected(400, f"body is not valid {media_type}: nested too deeply") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, "payload must be a JSON object")
    return data


# --- git ref names -----------------------------------------------------------------------------
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def ref_problem(ref: str) -> str | None:
    """Why ``ref`` is not a ref name git would accept (git check-ref-format), or None."""
    if len(ref.encode("utf-8", "surrogatepass")) > MAX_REF_BYTES:
        return f"longer than {MAX_REF_BYTES} bytes"
    if not ref.startswith("refs/"):
        return "does not start with refs/"
    if ".." in ref:
        return "contains '..'"
    if "@{" in ref:
        return "contains '@{'"
    if "//" in ref or ref.endswith("/"):
        return "has an empty path component"
    if ref.endswith("."):
        return "ends with '.'"
    found = _REF_FORBIDDEN.search(ref)
    if found:
        return f"contains the character {found.group()!r}"
    for component in ref.split("/"):
        if component.startswith("."):
            return "has a component that starts with '.'"
        if component.endswith(".lock"):
            return "has a component that ends with '.lock'"
    try:
        ref.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


# --- the push event ----------------------------------------------------------------------------
class PushEvent(BaseModel):
    """The trimmed push we put on the bus: what the pipeline needs, a few KB at most."""

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


def _text(data: dict[str, Any] | None, key: str, limit: int) -> str | None:
    value = data.get(key) if data else None
    return value[:limit] if isinstance(value, str) else None


def _http_url(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS or not value.startswith(("https://", "http://")):
        raise WebhookRejected(400, f"push payload: '{what}' must be an http(s) URL")
    return value


def parse_push(payload: dict[str, Any], *, delivery_id: str, enterprise_host: str | None) -> PushEvent:
    repository = _require(payload, "repository", dict)
    full_name = _require(repository, "full_name", str)
    if not _FULL_NAME.match(full_name) or any(part in (".", "..") for part in full_name.split("/")):
        raise WebhookRejected(400, f"push payload: 'repository.full_name' {shown(full_name)} is not owner/repo")
    ref = _require(payload, "ref", str)
    before = _require(payload, "before", str)
    after = _require(payload, "after", str)
    for name, sha in (("before", before), ("after", after)):
        if not _COMMIT_SHA.match(sha):
            raise WebhookRejected(400, f"push payload: '{name}' must be a 40-hex commit id")
    problem = ref_problem(ref)
    if problem:
        raise WebhookRejected(400, f"push payload: 'ref' {shown(ref)} is not a git ref name: it {problem}")
    head = payload.get("head_commit") if isinstance(payload.get("head_commit"), dict) else None
    commits = payload.get("commits") if isinstance(payload.get("commits"), list) else []
    pusher = payload.get("pusher") if isinstance(payload.get("pusher"), dict) else {}
    sender = payload.get("sender") if isinstance(payload.get("sender"), dict) else {}
    clone_url = _http_url(repository.get("clone_url"), "repository.clone_url")
    html_url = repository.get("html_url")
    return PushEvent(
        delivery_id=delivery_id,
        repository=full_name,
        ref=ref,
        before=before,
        after=after,
        created=payload.get("created") is True,
        deleted=payload.get("deleted") is True or after == ZERO_SHA,
        forced=payload.get("forced") is True,
        pusher=_text(pusher, "name", MAX_NAME_CHARS),
        sender=_text(sender, "login", MAX_NAME_CHARS),
        clone_url=clone_url,
        html_url=html_url if isinstance(html_url, str) and len(html_url) <= MAX_URL_CHARS else None,
        head_commit_message=_text(head, "message", MAX_MESSAGE_CHARS),
        head_commit_timestamp=_text(head, "timestamp", 40),
        commit_count=len(commits or []),
        enterprise_host=enterprise_host,
    )


def check_origin(push: PushEvent, ghe_host: str) -> None:
    """The code is cloned from ``clone_url``: it must be this repository on the configured GHE host."""
    if not ghe_host:
        return
    url = urlsplit(push.clone_url)
    if _host_of(url.netloc) != _host_of(ghe_host) or url.username or url.password:
        raise WebhookRejected(403, f"clone URL {shown(push.clone_url)} is not on the configured GHE host")
    if url.path.lower() != f"/{push.repository}.git".lower() or url.query or url.fragment:
        raise WebhookRejected(
            403, f"clone URL {shown(push.clone_url)} is not the clone URL of {push.repository} (/{push.repository}.git)"
        )


def ignore_reason(push: PushEvent) -> str | None:
    """The policy for pushes that deploy nothing: why this one is ignored, or None to deploy it.

    Deletions (branch or tag) deploy nothing; tags and other refs (notes, pull requests) deploy
    nothing; only branch pushes deploy. A force push deploys the branch's new head like any push:
    the head is what the branch now says, and the stack lock orders it after older pushes.
    """
    if push.deleted:
        return f"{push.ref} was deleted; deletions deploy nothing"
    if push.is_tag:
        return f"{push.ref} is a tag; only branch pushes deploy"
    if push.branch is None:
        return f"{push.ref} is not a branch; only branch pushes deploy"
    return None
