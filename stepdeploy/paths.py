"""Checks of names that come from outside: S3 upload keys."""

from __future__ import annotations

import re
from urllib.parse import unquote

from stepdeploy.errors import RequestRejected

_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def check_upload_key(key: str, prefix: str) -> tuple[str, str, str]:
    """``<prefix><owner>/<repo>/<name>.zip`` -> (owner, repo, key); refuses any path escape.

    EventBridge gives the key as stored; a key that still decodes to something else (``%2e%2e``)
    is refused rather than decoded twice.
    """
    if not key.startswith(prefix):
        raise RequestRejected(f"key {key!r} is outside the upload prefix {prefix!r}")
    if unquote(key) != key:
        raise RequestRejected(f"key {key!r} contains percent-encoded characters; upload with a plain key")
    rest = key[len(prefix) :]
    parts = rest.split("/")
    if len(parts) < 3 or not parts[-1].endswith(".zip"):
        raise RequestRejected(f"key {key!r}: expected {prefix}<owner>/<repo>/<name>.zip")
    for part in parts:
        if part in ("", ".", "..") or not _SEGMENT.match(part) or "\\" in part:
            raise RequestRejected(f"key {key!r}: segment {part!r} is not allowed (letters, digits, '_', '.', '-')")
    return parts[0], parts[1], key
