"""Klaviyo's per-endpoint, per-account fixed-window rate limits.

Each operation has a ``burst`` limit (per 1 s window), a ``steady`` limit (per 60 s window) and
sometimes a ``daily`` one (per 86 400 s), taken from the spec's ``x-klaviyo-ratelimit`` via the
committed ``ratelimits.json`` (``scripts/extract_klaviyo_ratelimits.py``). Windows are fixed, not
sliding, and counted per (API key, operation): every private key is its own account here.

A rejected request does not consume quota. The check is a dict lookup plus integer arithmetic per
window so the emulator keeps serving thousands of requests per second.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

WINDOWS = (("burst", 1.0), ("steady", 60.0), ("daily", 86400.0))


@dataclass(frozen=True, slots=True)
class Limits:
    operation_id: str
    method: str
    path: str
    windows: tuple[tuple[float, int], ...]  # (window seconds, max requests)


@functools.cache
def load_table() -> dict[str, Limits]:
    """Operation id -> limits, from the packaged ``ratelimits.json``."""
    text = resources.files(__package__).joinpath("ratelimits.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    out: dict[str, Limits] = {}
    for op in table["operations"]:
        windows = tuple((size, int(op[name])) for name, size in WINDOWS if op.get(name) is not None)
        out[op["operationId"]] = Limits(op["operationId"], op["method"], op["path"], windows)
    return out


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the reported window resets
    retry_after: int  # seconds to wait (only meaningful when not allowed)

    def headers(self) -> dict[str, str]:
        if not self.allowed:
            return {"Retry-After": str(self.retry_after)}
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    """Fixed-window counters keyed by (api key, operation id)."""

    def __init__(self, table: dict[str, Limits] | None = None, clock: Any = time.monotonic) -> None:
        self.table = table if table is not None else load_table()
        self.clock = clock
        # (key, operation) -> [window index, count] per window of the operation
        self._state: dict[tuple[str, str], list[list[int]]] = {}

    def reset(self) -> None:
        self._state.clear()

    def hit(self, api_key: str, operation_id: str) -> Decision | None:
        """Count one request; None when the operation has no published limit."""
        limits = self.table.get(operation_id)
        if limits is None:
            return None
        now = self.clock()
        state = self._state.get((api_key, operation_id))
        if state is None:
            state = [[-1, 0] for _ in limits.windows]
            self._state[(api_key, operation_id)] = state
        retry_after = 0
        for (size, limit), slot in zip(limits.windows, state, strict=True):
            index = int(now // size)
            if slot[0] != index:
                slot[0], slot[1] = index, 0
            if slot[1] >= limit:
                retry_after = max(retry_after, math.ceil((index + 1) * size - now))
        if retry_after:
            return Decision(False, 0, 0, retry_after, max(retry_after, 1))
        best: tuple[int, int, int] | None = None  # (remaining, limit, reset) of the tightest window
        for (size, limit), slot in zip(limits.windows, state, strict=True):
            slot[1] += 1
            remaining = limit - slot[1]
            if best is None or remaining < best[0]:
                best = (remaining, limit, max(1, math.ceil((slot[0] + 1) * size - now)))
        assert best is not None
        return Decision(True, best[1], best[0], best[2], 0)
