"""Late frames: how far each frame arrives behind its slot on the session's schedule."""

from __future__ import annotations

from collections import deque

__all__ = ["Lateness"]

REBASE_AFTER_S = 0.25  # later than this is a stall (pause, load): restart the schedule, count one late frame


class Lateness:
    """Frames arriving more than one period after their slot on a schedule anchored at the first one."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.period_us = 1_000_000 / fps
        self.origin_us: float | None = None
        self.window: deque[tuple[float, bool]] = deque()

    def rebase(self) -> None:
        self.origin_us = None

    def observe(self, pts_us: int, now: float) -> bool:
        arrival_us = now * 1_000_000
        if self.origin_us is None or arrival_us - pts_us < self.origin_us:
            self.origin_us = arrival_us - pts_us  # the earliest frame defines the schedule
        lateness = arrival_us - pts_us - self.origin_us
        late = lateness > self.period_us
        if lateness > REBASE_AFTER_S * 1_000_000:
            self.origin_us = arrival_us - pts_us
        self.window.append((now, late))
        while self.window and self.window[0][0] < now - 1.0:
            self.window.popleft()
        return late

    def ratio(self) -> float:
        return sum(1 for _, late in self.window if late) / len(self.window) if self.window else 0.0
