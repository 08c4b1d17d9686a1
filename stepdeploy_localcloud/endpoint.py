"""Where the running local cloud answers: set once by the server when it starts."""

from __future__ import annotations

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

_endpoint_url: str | None = None


def set_endpoint_url(url: str) -> None:
    global _endpoint_url
    _endpoint_url = url.rstrip("/")


def endpoint_url() -> str:
    if _endpoint_url is None:
        raise RuntimeError("the local cloud server is not running (no endpoint URL set)")
    return _endpoint_url


def is_running() -> bool:
    return _endpoint_url is not None
