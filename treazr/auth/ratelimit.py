"""Sliding-window rate limits, in memory: the sign-in routes per address and per key, and requests
from people not signed in per address."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from treazr.errors import RateLimited

__all__ = ["RateLimiter"]


class RateLimiter:
    """At most ``limit`` hits per ``window_s`` for each key; the next one raises RateLimited."""

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 50_000,
                 what: str = "sign-in attempts") -> None:
        self.limit = limit
        self.what = what
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._forget_idle(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                retry_after = max(1, math.ceil(hits[0] + self.window_s - now))
                raise RateLimited(f"Too many {self.what}; try again in {retry_after} s.", retry_after)
            hits.append(now)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window_s]:
            del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)
