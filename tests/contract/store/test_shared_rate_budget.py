"""The shared rate budget: three workers (three limiters, one store) stay together under one limit."""

from __future__ import annotations

import asyncio
import bisect
import time

import sqlalchemy as sa

from crmsync.ratelimit import SharedRateLimiter
from crmsync.store import StateStore
from crmsync.store.schema import rate_events


def max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window - 1e-9) - i for i, t in enumerate(times))


async def test_three_workers_share_one_budget(store: StateStore) -> None:
    workers = [SharedRateLimiter(store) for _ in range(3)]
    # the hour-long second limit keeps every send in the ledger, so the test reads the ledger's own
    # clock rather than when each coroutine happened to resume
    limits = [(20, 0.5), (10_000, 3600.0)]

    async def send(limiter: SharedRateLimiter) -> None:
        await limiter.acquire("acct:op", limits)

    t0 = time.monotonic()
    await asyncio.gather(*(send(w) for w in workers for _ in range(30)))
    with store.engine.connect() as conn:
        sent = [
            at.timestamp()
            for at in conn.execute(
                sa.select(rate_events.c.at).where(rate_events.c.bucket == "acct:op")
            ).scalars()
        ]
    assert len(sent) == 90
    assert max_in_any_window(sent, 0.5) <= 20
    assert time.monotonic() - t0 >= 1.0  # 90 sends at 20 per 0.5 s need at least two more windows


async def test_a_hold_stops_every_worker(store: StateStore) -> None:
    a, b = SharedRateLimiter(store), SharedRateLimiter(store)
    a.hold("k", 0.6)
    t0 = time.monotonic()
    await b.acquire("k", [(100, 1.0)])
    assert time.monotonic() - t0 >= 0.5
