"""Checks of names that come from outside: S3 upload keys."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from stepdeploy.errors import RequestRejected

_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_KEY_CHARS = 1024
"""S3's own limit on a key (in UTF-8 bytes; every allowed character is one byte)."""


def check_upload_key(key: str, prefix: str) -> tuple[str, str, str]:
    """``<prefix><owner>/<repo>/<name>.zip`` -> (owner, repo, key); refuses any path escape.

    The key is decoded once at most: whether a notification URL-encodes keys or not, an allowed key
    (letters, digits, ``_ . -`` and ``/``) reads the same both ways, so a key that decodes to
    something else (``%2e%2e``, ``+``) is refused rather than decoded, and a second decoding never
    happens.
    """
    shown = repr(key[:200])
    if len(key) > MAX_KEY_CHARS:
        raise RequestRejected(f"key {shown}... is longer than {MAX_KEY_CHARS} characters")
    if _CONTROL.search(key):
        raise RequestRejected(f"key {shown} contains control characters")
    if key.startswith(("/", "\\")):
        raise RequestRejected(f"key {shown} is absolute; expected {prefix}<owner>/<repo>/<name>.zip")
    if not key.startswith(prefix):
        raise RequestRejected(f"key {shown} is outside the upload prefix {prefix!r}")
    if unquote_plus(key) != key:
        raise RequestRejected(f"key {shown} contains percent-encoded characters or '+'; upload with a plain key")
    rest = key[len(prefix) :]
    parts = rest.split("/")
    if len(parts) < 3 or not parts[-1].endswith(".zip"):
        raise RequestRejected(f"key {shown}: expected {prefix}<owner>/<repo>/<name>.zip")
    for part in parts:
        if part in ("", ".", "..") or not _SEGMENT.match(part):
            raise RequestRejected(f"key {shown}: segment {part!r} is not allowed (letters, digits, '_', '.', '-')")
    return parts[0], parts[1], key
