"""Frame pacing on the monotonic clock, shared by the play worker and ``treazr run --realtime``."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["MAX_LAG_S", "Pacer"]

MAX_LAG_S = 0.25  # further behind than this (a stall, a pause), start counting again instead of racing


class Pacer:
    """Frame deadlines at ``origin + n * period`` on the monotonic clock: late frames never add up.

    ``clock`` and ``sleep`` are parameters so a test can drive the pacer with a clock it controls.
    """

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.period = 1.0 / fps
        self.speed = 1.0
        self._clock = clock
        self._sleep = sleep
        self.rebase()

    def rebase(self) -> None:
        """Count frames from now: after a pause, a speed change or a stall longer than MAX_LAG_S."""
        self.origin = self._clock()
        self.ticks = 0

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        self.rebase()

    def deadline(self) -> float:
        return self.origin + self.ticks * self.period / self.speed

    def wait(self) -> None:
        """Sleep until the next frame's deadline (at once if it has passed)."""
        self.ticks += 1
        delay = self.deadline() - self._clock()
        if delay > 0:
            self._sleep(delay)
        elif delay < -MAX_LAG_S:
            self.rebase()
