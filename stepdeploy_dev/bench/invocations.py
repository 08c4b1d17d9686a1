"""Every Lambda invocation the local cloud runs, recorded while a benchmark runs.

The local cloud's Lambda runtime sends every invocation (Invoke API, the state machine's tasks,
EventBridge targets, the webhook route) through ``lambda_runtime.run_target``; ``recording()``
wraps it for the duration of a ``with`` block and restores it after.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recorded:
    function: str
    memory_mb: int
    started: float  # time.time()
    seconds: float  # real seconds
    error: bool


@dataclass
class Recorder:
    calls: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Recorded) -> None:
        with self._lock:
            self.calls.append(call)

    def between(self, start: float, end: float, functions: set[str] | None = None) -> list[Recorded]:
        """Invocations that started in [start, end), of ``functions`` if given."""
        with self._lock:
            calls = list(self.calls)
        return [c for c in calls if start <= c.started < end and (functions is None or c.function in functions)]


@contextmanager
def recording() -> Iterator[Recorder]:
    from stepdeploy_localcloud.awslambda import runtime as lambda_runtime

    recorder = Recorder()
    original = lambda_runtime.run_target

    def run_target(target: Any, event: bytes) -> Any:
        started = time.time()
        clock = time.monotonic()
        error = True
        try:
            result = original(target, event)
            error = bool(result.function_error)
            return result
        finally:
            recorder.add(Recorded(
                function=str(target.function.function_name),
                memory_mb=int(target.function.memory_size or 128),
                started=started,
                seconds=time.monotonic() - clock,
                error=error,
            ))

    lambda_runtime.run_target = run_target  # type: ignore[assignment]
    try:
        yield recorder
    finally:
        lambda_runtime.run_target = original  # type: ignore[assignment]
