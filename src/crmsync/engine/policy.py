"""The retry policy: one table from an error's recovery intent to what the engine does next.

| recovery            | action                                                                    |
|---------------------|---------------------------------------------------------------------------|
| RETRY (5xx, resets) | back off: full jitter over the schedule step (seed 003: 0, 1, 2, 5, 10 s) |
| RETRY_AFTER (429)   | wait exactly ``Retry-After``                                             |
| REFRESH_AUTH (401)  | retry at once (the connector refreshed its credentials)                   |
| FETCH_MERGE_RETRY   | retry at once: the engine re-reads the current state before delivering    |
| PERMANENT (4xx)     | dead letter, with the reason — never acknowledged away unseen             |
| FATAL               | stop the run with the message (bad credentials, bad config)               |

A retryable failure becomes a dead letter too once it has used ``max_attempts`` or is older than
``max_age``: nothing is retried forever, and nothing is dropped silently.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from crmsync.errors import CrmsyncError, RateLimitedError, Recovery


class Action(Enum):
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    STOP = "stop"


@dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0  # seconds before the next attempt (RETRY only)
    reason: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    schedule: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0)
    max_attempts: int = 6  # the first attempt and five retries, as in seed 003
    max_age: timedelta = timedelta(hours=24)
    jitter: Callable[[float, float], float] = random.uniform

    def decide(self, error: CrmsyncError, attempts: int, age: timedelta = timedelta(0)) -> Decision:
        """What to do after the ``attempts``-th failed attempt (1 = the first one failed)."""
        recovery = error.recovery
        if recovery is Recovery.FATAL:
            return Decision(Action.STOP, reason=error.message)
        if recovery is Recovery.PERMANENT:
            return Decision(Action.DEAD_LETTER, reason=error.message)
        if attempts >= self.max_attempts:
            return Decision(Action.DEAD_LETTER, reason=f"gave up after {attempts} attempts: {error.message}")
        if age > self.max_age:
            return Decision(Action.DEAD_LETTER, reason=f"gave up after {age} (max age): {error.message}")
        if recovery is Recovery.RETRY_AFTER:
            wait = error.retry_after if isinstance(error, RateLimitedError) else 1.0
            return Decision(Action.RETRY, delay=max(0.0, wait), reason=error.message)
        if recovery in (Recovery.REFRESH_AUTH, Recovery.FETCH_MERGE_RETRY):
            return Decision(Action.RETRY, delay=0.0, reason=error.message)
        step = self.schedule[min(max(attempts, 1), len(self.schedule)) - 1] if self.schedule else 0.0
        return Decision(Action.RETRY, delay=self.jitter(0.0, step) if step > 0 else 0.0, reason=error.message)
