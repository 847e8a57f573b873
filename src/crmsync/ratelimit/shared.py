"""The rate budget shared by every worker of a PostgreSQL deployment (ledger in the store)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol


class RateLedger(Protocol):
    def rate_try(self, bucket: str, limits: Sequence[tuple[int, float]]) -> float: ...

    def rate_hold(self, bucket: str, seconds: float) -> None: ...


class SharedRateLimiter:
    """Same contract as :class:`LocalRateLimiter`, but the windows are counted in the database,
    so N processes on N machines together stay under one account's limits."""

    def __init__(self, ledger: RateLedger, *, headroom: float = 1.0) -> None:
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        self._ledger = ledger
        self._headroom = headroom
        self._locks: dict[str, asyncio.Lock] = {}
        self.acquired = 0
        self.waited_s = 0.0

    async def acquire(self, bucket: str, limits: Sequence[tuple[int, float]]) -> None:
        scaled = [(max(1, int(count * self._headroom)), window) for count, window in limits]
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        async with lock:  # this process's senders queue locally; the ledger arbitrates between processes
            while True:
                wait = await asyncio.to_thread(self._ledger.rate_try, bucket, scaled)
                if wait <= 0:
                    break
                self.waited_s += wait
                await asyncio.sleep(min(wait, 1.0) + 0.001)
        self.acquired += 1

    def hold(self, bucket: str, seconds: float) -> None:
        self._ledger.rate_hold(bucket, seconds)
