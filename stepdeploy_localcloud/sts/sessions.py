"""Session tags of AssumeRole (``Tags``), kept per access key: moto drops them.

A bucket policy reads them as ``aws:PrincipalTag/<key>``, over the role's own tag of that key
(s3/callers.py). AssumeRole with tags needs ``sts:TagSession`` in the role's trust policy (patch.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

_TAGS: dict[str, dict[str, str]] = {}
_LOCK = threading.Lock()


def record(access_key_id: str, tags: Mapping[str, str]) -> None:
    with _LOCK:
        _TAGS[access_key_id] = dict(tags)


def tags_of(access_key_id: str) -> dict[str, str]:
    with _LOCK:
        return dict(_TAGS.get(access_key_id, {}))
