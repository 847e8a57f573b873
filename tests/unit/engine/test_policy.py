"""The retry table: every recovery intent maps to the documented action."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crmsync.engine.policy import Action, RetryPolicy
from crmsync.errors import (
    AuthError,
    ConcurrentModificationError,
    CredentialsError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    RecordValidationError,
    TransientError,
)

POLICY = RetryPolicy(jitter=lambda low, high: high)  # deterministic: the top of the jitter range


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (PermanentError("400"), Action.DEAD_LETTER),
        (NotFoundError("404"), Action.DEAD_LETTER),
        (RecordValidationError("bad phone", field="phone_number"), Action.DEAD_LETTER),
        (CredentialsError("403 scope"), Action.STOP),
        (TransientError("503"), Action.RETRY),
        (RateLimitedError("429", retry_after=7), Action.RETRY),
        (AuthError("401"), Action.RETRY),
        (ConcurrentModificationError("409"), Action.RETRY),
    ],
)
def test_recovery_table(error: Exception, action: Action) -> None:
    assert POLICY.decide(error, attempts=1).action is action  # type: ignore[arg-type]


def test_seed_003_schedule_with_full_jitter_then_dead_letter() -> None:
    delays = [POLICY.decide(TransientError("503"), attempts=n).delay for n in range(1, 6)]
    assert delays == [0.0, 1.0, 2.0, 5.0, 10.0]
    assert POLICY.decide(TransientError("503"), attempts=6).action is Action.DEAD_LETTER
    low = RetryPolicy(jitter=lambda low, high: low)
    assert low.decide(TransientError("503"), attempts=5).delay == 0.0  # full jitter: anywhere in [0, step]


def test_retry_after_is_honoured_exactly_and_age_is_bounded() -> None:
    assert POLICY.decide(RateLimitedError("429", retry_after=7), attempts=2).delay == 7
    decision = POLICY.decide(TransientError("503"), attempts=1, age=timedelta(days=2))
    assert decision.action is Action.DEAD_LETTER and "max age" in decision.reason
    assert "gave up after 6 attempts" in POLICY.decide(TransientError("503"), attempts=6).reason
