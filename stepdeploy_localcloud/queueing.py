"""Time a Step Functions task's Lambda invocation spends waiting for a free local worker.

On AWS a request-response Lambda task's TimeoutSeconds covers the function's work: Lambda scales out
and no request waits for another's sandbox. Here a function version has at most 4 warm workers on a
shared machine, so under load (100 executions starting together, a CPU hog beside them) a request
could wait longer for a worker than the task's TimeoutSeconds allows, and the task failed with
States.Timeout where AWS would have run it. The interpreter tags each task's Lambda requests with a
token (``HEADER``); the Lambda runtime adds the time each request waited for a worker to that token;
the task's timeout is extended by it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

HEADER = "X-Stepdeploy-Task"
_waits: dict[str, float] = {}
_since: dict[str, float] = {}  # a wait going on, by token: when it began
_lock = threading.Lock()
_local = threading.local()


def new_token() -> str:
    token = uuid.uuid4().hex
    with _lock:
        _waits[token] = 0.0
    return token


def forget(token: str) -> None:
    with _lock:
        _waits.pop(token, None)
        _since.pop(token, None)


def waited(token: str) -> float:
    """Seconds the requests tagged ``token`` have waited for a worker so far, including a wait going on."""
    with _lock:
        ongoing = _since.get(token)
        return _waits.get(token, 0.0) + (time.monotonic() - ongoing if ongoing is not None else 0.0)


@contextmanager
def _marked(role: str, token: str | None) -> Iterator[None]:
    """This thread's ``role`` is ``token`` for the duration (what it was before afterwards)."""
    previous = getattr(_local, role, None)
    setattr(_local, role, token)
    try:
        yield
    finally:
        setattr(_local, role, previous)


def task(token: str | None) -> AbstractContextManager[None]:
    """Mark this thread (the interpreter's task thread) as running the task ``token``."""
    return _marked("task", token)


def current_task() -> str | None:
    return getattr(_local, "task", None)


def serving(token: str | None) -> AbstractContextManager[None]:
    """Mark this thread (the server's, invoking the function) as serving a request of task ``token``."""
    return _marked("serving", token)


@contextmanager
def waiting_for_worker() -> Iterator[None]:
    """Called by the Lambda runtime around a wait for a free worker of the request this thread serves."""
    token = getattr(_local, "serving", None)
    if token is None:
        yield
        return
    started = time.monotonic()
    with _lock:
        known = token in _waits
        if known:
            _since[token] = started
    try:
        yield
    finally:
        if known:
            with _lock:
                _since.pop(token, None)
                if token in _waits:
                    _waits[token] += time.monotonic() - started
