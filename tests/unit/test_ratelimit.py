"""The local rate budget: never more than the limit in ANY window, and a 429 holds every sender."""

from __future__ import annotations

import asyncio
import bisect

import pytest

from crmsync.ratelimit import LocalRateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()

    async def sleep(seconds: float) -> None:
        fake.now += seconds

    monkeypatch.setattr("crmsync.ratelimit.local.asyncio.sleep", sleep)
    return fake


def max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


async def test_never_above_the_limit_in_any_window(clock: FakeClock) -> None:
    limiter = LocalRateLimiter(clock)
    sent: list[float] = []

    async def one() -> None:
        await limiter.acquire("k", [(10, 1.0), (50, 60.0)])
        sent.append(clock.now)

    await asyncio.gather(*(one() for _ in range(120)))
    assert len(sent) == 120
    assert max_in_any_window(sent, 1.0) <= 10
    assert max_in_any_window(sent, 60.0) <= 50
    # and it uses the budget fully, paced evenly (10/s = one every 0.1 s, no bursts at window
    # starts), until the minute window is full; then it opens again a minute after the first send
    assert sent[1] == pytest.approx(0.1) and sent[49] == pytest.approx(4.9)
    assert sent[50] == pytest.approx(60.0) and sent[-1] <= 126


async def test_hold_after_a_429_applies_to_everyone_and_buckets_are_separate(clock: FakeClock) -> None:
    limiter = LocalRateLimiter(clock)
    limiter.hold("a", 5.0)
    await limiter.acquire("b", [(1, 1.0)])
    assert clock.now == 0.0  # another bucket is not held
    await limiter.acquire("a", [(100, 1.0)])
    assert clock.now == 5.0


def test_headroom_lowers_the_budget() -> None:
    limiter = LocalRateLimiter(lambda: 0.0, headroom=0.9)
    with pytest.raises(ValueError):
        LocalRateLimiter(headroom=0)
    assert limiter.delay("k", [(10, 1.0)], 0.0) == 0.0
