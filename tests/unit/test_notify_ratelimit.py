"""Pacing: the GCRA step itself, and per-target reservations that queue for the next free slot, bursts,
429 pauses, idle keys dropped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notify.core.ratelimit import Pace, RateLimiter, gcra


@pytest.mark.parametrize(
    ("tat", "now", "expected"),
    [
        pytest.param(0.0, 0.0, (0.0, 10.0), id="a new key (tat = now) goes at once"),
        pytest.param(-50.0, 0.0, (0.0, 10.0), id="a tat in the past is the same as a new key"),
        pytest.param(20.0, 0.0, (0.0, 30.0), id="within the tolerance: at once, tat moves on"),
        pytest.param(25.0, 0.0, (5.0, 35.0), id="beyond the tolerance: the wait is the excess"),
        pytest.param(25.0, 3.0, (2.0, 35.0), id="time passing shortens the wait, not the tat"),
    ],
)
def test_gcra_step(tat: float, now: float, expected: tuple[float, float]) -> None:
    # interval 10 s, tolerance 20 s: a burst of 3
    assert gcra(tat, now, interval=10.0, tolerance=20.0) == pytest.approx(expected)


def test_gcra_refusing_keeps_the_old_tat_so_a_burst_then_refusals_cost_nothing() -> None:
    """How test sends use it: a refused reservation records nothing, so the fourth call's wait is the
    time until the first slot frees, however many refusals came in between."""
    pace = Pace(rate=1 / 120, burst=3)  # 30 an hour
    tat, waits = 0.0, []
    for _ in range(20):
        wait, new_tat = pace.step(tat, 0.0)
        waits.append(wait)
        if wait == 0:
            tat = new_tat
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([120.0] * 17)
    assert pace.step(tat, 120.0)[0] == 0.0  # one slot back after an interval


def test_pace_derives_interval_and_tolerance() -> None:
    pace = Pace(rate=2.0, burst=4)
    assert (pace.interval, pace.tolerance) == pytest.approx((0.5, 1.5))


# Steps: ("reserve", key, now, expected wait) or ("pause", key, until, None).
Step = tuple[str, str, float, float | None]


@pytest.mark.parametrize(
    ("rate", "burst", "steps"),
    [
        pytest.param(
            1.0,
            1,
            [
                ("reserve", "a", 0, 0),
                ("reserve", "a", 0, 1),
                ("reserve", "a", 0, 2),
                ("reserve", "a", 0.5, 2.5),
            ],
            id="queue: each takes the next slot",
        ),
        pytest.param(
            2.0,
            1,
            [("reserve", "a", 0, 0), ("reserve", "a", 0.1, 0.4), ("reserve", "a", 5, 0)],
            id="spacing 1/rate, free again after a quiet spell",
        ),
        pytest.param(
            1.0,
            3,
            [
                ("reserve", "a", 0, 0),
                ("reserve", "a", 0, 0),
                ("reserve", "a", 0, 0),
                ("reserve", "a", 0, 1),
                ("reserve", "a", 0, 2),
                ("reserve", "a", 10, 0),
                ("reserve", "a", 10, 0),
                ("reserve", "a", 10, 0),
                ("reserve", "a", 10, 1),
            ],
            id="burst then paced, burst regained when idle",
        ),
        pytest.param(
            1.0,
            3,
            [
                ("reserve", "a", 0, 0),
                ("reserve", "a", 0, 0),
                ("reserve", "a", 0, 0),
                ("reserve", "a", 1.5, 0),
                ("reserve", "a", 1.5, 0.5),
            ],
            id="burst partly regained: one slot per interval",
        ),
        pytest.param(
            1.0,
            1,
            [("reserve", "a", 0, 0), ("reserve", "a", 0, 1), ("reserve", "b", 0, 0), ("reserve", "b", 0, 1)],
            id="keys are independent",
        ),
        pytest.param(
            1.0,
            1,
            [
                ("pause", "a", 30, None),
                ("reserve", "a", 0, 30),
                ("reserve", "a", 0, 31),
                ("reserve", "b", 0, 0),
            ],
            id="a 429 pushes only its target",
        ),
        pytest.param(
            1.0,
            5,
            [
                ("pause", "a", 30, None),
                ("reserve", "a", 29, 1),
                ("reserve", "a", 29, 2),
                ("reserve", "a", 29, 3),
            ],
            id="no burst right after a 429",
        ),
        pytest.param(
            1.0,
            1,
            [
                ("reserve", "a", 0, 0),
                ("reserve", "a", 0, 1),
                ("reserve", "a", 0, 2),
                ("pause", "a", 1, None),
                ("reserve", "a", 0, 3),
            ],
            id="a pause earlier than the queue changes nothing",
        ),
        pytest.param(
            1.0,
            1,
            [("pause", "a", 5, None), ("reserve", "a", 60, 0)],
            id="a pause in the past changes nothing",
        ),
    ],
)
def test_reservations(rate: float, burst: int, steps: list[Step]) -> None:
    limiter = RateLimiter(rate, burst)
    for op, key, now, expected in steps:
        if op == "pause":
            limiter.pause(key, now)
        else:
            assert limiter.next_free(key, now) == pytest.approx(expected)
            assert limiter.reserve(key, now) == pytest.approx(expected), (op, key, now)


def test_forget_idle_drops_only_keys_with_nothing_queued() -> None:
    limiter = RateLimiter(rate=1.0, burst=2)
    limiter.reserve("idle", 0)  # its slot is over at 1
    limiter.reserve("busy", 9)
    limiter.reserve("busy", 9)  # queued until 11
    limiter.pause("paused", 100)
    assert len(limiter) == 3
    assert limiter.forget_idle(10) == 1
    assert len(limiter) == 2
    assert limiter.reserve("busy", 10) == pytest.approx(0)  # state kept: 10 >= 11 - 1
    assert limiter.reserve("paused", 10) == pytest.approx(90)
    assert limiter.forget_idle(1000) == 2 and len(limiter) == 0


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (float("nan"), 1), (1, 0)])
def test_rejects_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)
    with pytest.raises(ValueError):
        Pace(rate, burst)


@settings(max_examples=200, deadline=None, database=None)
@given(
    rate=st.floats(0.1, 50),
    burst=st.integers(1, 5),
    gaps=st.lists(st.floats(0, 3), min_size=1, max_size=60),
)
def test_sends_never_exceed_rate_and_burst_and_keep_order(rate: float, burst: int, gaps: list[float]) -> None:
    limiter = RateLimiter(rate, burst)
    now = 0.0
    sends: list[float] = []
    for gap in gaps:
        now += gap
        wait = limiter.reserve("k", now)
        assert wait >= 0
        sends.append(now + wait)
    assert sends == sorted(sends)  # first come, first served
    interval = 1 / rate
    for i in range(len(sends)):
        for k in range(burst, len(sends) - i):
            # any k+1 consecutive sends span at least (k - burst + 1) intervals
            assert sends[i + k] - sends[i] >= (k - burst + 1) * interval - 1e-6
