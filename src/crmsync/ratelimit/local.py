"""An in-process rate budget: sliding-window logs per bucket, asyncio-friendly."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence


class LocalRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, *, headroom: float = 1.0) -> None:
        """``headroom`` (0 < h <= 1) scales every limit, e.g. 0.95 to leave room for other clients."""
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        self._clock = clock
        self._headroom = headroom
        self._sent: dict[str, deque[float]] = {}
        self._held_until: dict[str, float] = {}
        self._slot: dict[str, float] = {}  # next paced send time per bucket
        self._locks: dict[str, asyncio.Lock] = {}
        self.waited_s = 0.0
        self.acquired = 0

    def _lock(self, bucket: str) -> asyncio.Lock:
        lock = self._locks.get(bucket)
        if lock is None:
            lock = self._locks[bucket] = asyncio.Lock()
        return lock

    def delay(self, bucket: str, limits: Sequence[tuple[int, float]], now: float) -> float:
        """Seconds until one more request fits every limit of ``bucket`` (0 = now)."""
        wait = max(0.0, self._held_until.get(bucket, 0.0) - now)
        sent = self._sent.get(bucket)
        if bucket in self._slot:
            # Pace at the tightest limit's rate instead of sending it in one burst per window: the
            # vendor counts arrivals in fixed windows, and a burst whose tail arrives a moment late
            # would land in the next window on top of that window's own burst.
            wait = max(wait, self._slot[bucket] - now)
        if sent:
            for count, window in limits:
                allowed = max(1, int(count * self._headroom))
                if len(sent) >= allowed:
                    # the request `allowed` sends ago must have left the window
                    oldest_in_window = sent[-allowed]
                    wait = max(wait, oldest_in_window + window - now)
        return wait

    async def acquire(self, bucket: str, limits: Sequence[tuple[int, float]]) -> None:
        async with self._lock(bucket):  # FIFO among waiters of one bucket
            while True:
                now = self._clock()
                wait = self.delay(bucket, limits, now)
                if wait <= 0:
                    break
                self.waited_s += wait
                await asyncio.sleep(wait)
            sent = self._sent.setdefault(bucket, deque())
            now = self._clock()
            sent.append(now)
            if limits:
                count, window = min(limits, key=lambda lim: lim[1] / max(1, lim[0]))
                interval = window / max(1, int(count * self._headroom))
                # slots, not "last send + interval": timer overshoot does not accumulate (at most one
                # interval of lateness is caught up; the window logs still cap every window)
                self._slot[bucket] = max(self._slot.get(bucket, now), now - interval) + interval
            longest = max((int(c * self._headroom) for c, _ in limits), default=1)
            while len(sent) > max(1, longest):
                sent.popleft()
            self.acquired += 1

    def hold(self, bucket: str, seconds: float) -> None:
        until = self._clock() + max(0.0, seconds)
        self._held_until[bucket] = max(self._held_until.get(bucket, 0.0), until)
