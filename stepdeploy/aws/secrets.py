"""Secrets from Secrets Manager, cached for a few minutes per process; never logged."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from stepdeploy.aws.clients import client, error_code

_TTL_SECONDS = 300.0
_cache: dict[tuple[str, str], tuple[float, str | None]] = {}


def _fetch(secret_id: str, stage: str) -> str | None:
    try:
        response = client("secretsmanager").get_secret_value(SecretId=secret_id, VersionStage=stage)
    except ClientError as exc:
        if stage != "AWSCURRENT" and error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return str(response.get("SecretString") or "")


def secret_value(secret_id: str, stage: str = "AWSCURRENT") -> str | None:
    key = (secret_id, stage)
    cached = _cache.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    value = _fetch(secret_id, stage)
    _cache[key] = (time.monotonic() + _TTL_SECONDS, value)
    return value


def current_and_previous(secret_id: str) -> list[str]:
    """The current secret and, during a rotation, the previous one: both are accepted."""
    values = [
        secret_value(secret_id, "AWSCURRENT"),
        secret_value(secret_id, "AWSPREVIOUS"),
    ]
    return [v for v in dict.fromkeys(values) if v]


def clear_cache() -> None:
    _cache.clear()
