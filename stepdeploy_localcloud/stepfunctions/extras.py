"""What the local cloud records about a moto execution beyond moto's own fields."""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass, field
from typing import Any

_ATTRIBUTE = "_stepdeploy_extras"
_create_lock = threading.Lock()


@dataclass
class ExecutionExtras:
    redrive_count: int = 0
    redrive_date: datetime.datetime | None = None
    last_redrive_token: str | None = None
    # Set when the interpreter has finished the current attempt (start or redrive).
    finished: threading.Event = field(default_factory=threading.Event)
    # Serialises stop and redrive of one execution.
    lock: threading.RLock = field(default_factory=threading.RLock)


def extras_of(execution: Any) -> ExecutionExtras:
    found = getattr(execution, _ATTRIBUTE, None)
    if found is None:
        with _create_lock:
            found = getattr(execution, _ATTRIBUTE, None)
            if found is None:
                found = ExecutionExtras()
                setattr(execution, _ATTRIBUTE, found)
    return found


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)
