"""The local cloud's accelerated clock.

Waits, retry intervals, canary steps and bake times are expressed in virtual seconds (the
seconds AWS would take); the local cloud sleeps them divided by ``speed``. At the default speed
of 60, CodeDeployDefault.LambdaCanary10Percent5Minutes takes five real seconds.
"""

from __future__ import annotations

import os
import threading
import time

DEFAULT_SPEED = 60.0


class Clock:
    def __init__(self, speed: float = DEFAULT_SPEED) -> None:
        self._speed = speed
        self._lock = threading.Lock()

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed}")
        with self._lock:
            self._speed = speed

    def real_seconds(self, virtual_seconds: float) -> float:
        return max(0.0, virtual_seconds) / self._speed

    def sleep(self, virtual_seconds: float) -> None:
        time.sleep(self.real_seconds(virtual_seconds))

    def wait(self, event: threading.Event, virtual_seconds: float) -> bool:
        """Sleep like ``sleep`` but return early (True) when ``event`` is set."""
        return event.wait(self.real_seconds(virtual_seconds))


CLOCK = Clock(float(os.environ.get("STEPDEPLOY_LOCAL_SPEED", DEFAULT_SPEED)))
