"""Frame pacing (the worker's and `treazr run --realtime`'s), driven by a clock the test controls (no wall-clock
assertions)."""

from __future__ import annotations

import pytest

from treazr.emulation.pacing import MAX_LAG_S, Pacer


class FakeClock:
    """Time that moves only when the pacer sleeps or the test says a frame took a while."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_deadlines_do_not_drift() -> None:
    clock = FakeClock()
    pacer = Pacer(60.0988, clock=clock, sleep=clock.sleep)
    for frame in range(1, 60099):
        clock.now += 0.004 + (frame % 7) * 0.001  # frames take uneven time, always less than a period
        pacer.wait()
    # 60,098 frames of the SNES rate end at 1000 s of emulated time, exactly, without accumulated error
    assert clock.now - 1000.0 == pytest.approx(60098 / 60.0988, abs=1e-6)


def test_a_late_frame_is_caught_up_and_a_stall_is_forgiven() -> None:
    clock = FakeClock()
    pacer = Pacer(50.0, clock=clock, sleep=clock.sleep)
    clock.now += 0.03  # one slow frame (30 ms of a 20 ms period)
    pacer.wait()
    assert clock.slept == []
    pacer.wait()  # the next one has only the time left until its own deadline
    assert clock.slept == [pytest.approx(0.01)]
    clock.now += MAX_LAG_S + 1  # a stall: start counting again rather than racing to catch up
    pacer.wait()
    clock.slept.clear()
    pacer.wait()
    assert clock.slept == [pytest.approx(0.02)]


def test_fast_forward_shortens_the_period() -> None:
    clock = FakeClock()
    pacer = Pacer(60.0, clock=clock, sleep=clock.sleep)
    pacer.set_speed(4.0)
    start = clock.now
    for _ in range(240):
        pacer.wait()
    assert clock.now - start == pytest.approx(1.0)
