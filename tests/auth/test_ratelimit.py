from __future__ import annotations

import pytest

from treazr.auth.ratelimit import RateLimiter
from treazr.errors import RateLimited


def test_limit_per_key_with_retry_after_and_recovery() -> None:
    limiter = RateLimiter(limit=3, window_s=60)
    for t in (0.0, 1.0, 2.0):
        limiter.hit("10.0.0.5", now=t)
    limiter.hit("10.0.0.6", now=2.0)  # another key has its own budget
    with pytest.raises(RateLimited) as raised:
        limiter.hit("10.0.0.5", now=10.0)
    assert raised.value.retry_after == 50
    limiter.hit("10.0.0.5", now=60.5)  # the first hit left the window


def test_idle_keys_are_forgotten_when_many() -> None:
    limiter = RateLimiter(limit=1, window_s=60, max_keys=5)
    for i in range(5):
        limiter.hit(f"k{i}", now=0)
    limiter.hit("late", now=100)
    assert len(limiter) == 1
