"""Late frames against the schedule of the first frame."""

from __future__ import annotations

from treazr.streaming.lateness import Lateness


def test_late_frames_are_counted_against_the_first_frames_schedule() -> None:
    lateness = Lateness(fps=50.0)  # 20 ms per frame
    arrivals = [(n * 20_000, 10.0 + n * 0.020) for n in range(10)]
    assert not any(lateness.observe(pts, now) for pts, now in arrivals)
    assert lateness.observe(10 * 20_000, 10.0 + 10 * 0.020 + 0.019) is False  # jitter under one period
    assert lateness.observe(11 * 20_000, 10.0 + 11 * 0.020 + 0.021) is True  # more than one period late
    assert lateness.observe(12 * 20_000, 10.0 + 12 * 0.020 + 0.001) is False
    assert lateness.observe(13 * 20_000, 10.0 + 13 * 0.020 + 0.5) is True  # a stall: counted once...
    assert lateness.observe(14 * 20_000, 10.0 + 14 * 0.020 + 0.5) is False  # ...then a new schedule
    assert 0 < lateness.ratio() < 0.2
