"""The status/code → crmsync error table and the retry policy built on recovery intents."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from crmsync.connectors.klaviyo.errors import (
    DEFAULT_RETRY_AFTER,
    RetryPolicy,
    error_from_response,
    field_from_pointer,
    parse_retry_after,
    transport_error,
)
from crmsync.errors import (
    CredentialsError,
    CrmsyncError,
    DuplicateError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    RecordValidationError,
    Recovery,
    TransientError,
)
from tests.unit.klaviyo_connector.fake_klaviyo import error_body


def _err(
    status: int, code: str = "x", headers: dict[str, str] | None = None, **extra: object
) -> CrmsyncError:
    return error_from_response(
        status, error_body(status, code, f"detail for {status}", **extra), headers or {}, connection="kl"
    )


def test_400_with_pointer_is_a_record_validation_error_naming_the_field() -> None:
    exc = _err(400, "invalid", source={"pointer": "/data/attributes/phone_number"})
    assert type(exc) is RecordValidationError
    assert exc.field == "phone_number"
    assert "detail for 400" in exc.message
    assert exc.recovery is Recovery.PERMANENT
    assert exc.status == 400 and exc.connection == "kl"


@pytest.mark.parametrize(
    ("pointer", "field"),
    [
        ("/data/attributes/phone_number", "phone_number"),
        ("/data/attributes/location/zip", "location.zip"),
        ("/data/attributes/profiles/data/3/attributes/email", "email"),
        ("/data/attributes/properties/a~1b", "properties.a/b"),
        ("/data/attributes", None),
        ("/data", None),
        ("", None),
        (None, None),
    ],
)
def test_field_from_pointer(pointer: str | None, field: str | None) -> None:
    assert field_from_pointer(pointer) == field


def test_400_pointing_at_the_whole_record_still_dead_letters_it() -> None:
    exc = _err(400, "invalid", source={"pointer": "/data/attributes"})
    assert type(exc) is RecordValidationError and exc.field is None


@pytest.mark.parametrize("extra", [{}, {"source": {"parameter": "filter"}}])
def test_400_without_pointer_is_permanent(extra: dict[str, dict[str, str]]) -> None:
    exc = error_from_response(400, error_body(400, "invalid", "bad", **extra), {})
    assert type(exc) is PermanentError


@pytest.mark.parametrize("status", [403, 405, 413, 415, 422])
def test_other_client_errors_are_permanent(status: int) -> None:
    assert type(_err(status)) is PermanentError


def test_404_is_not_found() -> None:
    exc = _err(404, "not_found")
    assert type(exc) is NotFoundError and isinstance(exc, PermanentError)


def test_401_is_fatal_and_explains_keys_cannot_be_refreshed() -> None:
    exc = _err(401, "not_authenticated")
    assert type(exc) is CredentialsError
    assert exc.recovery is Recovery.FATAL
    assert "cannot be refreshed" in exc.message


def test_409_duplicate_profile_carries_the_existing_id() -> None:
    exc = _err(409, "duplicate_profile", meta={"duplicate_profile_id": "01HZZZ"})
    assert type(exc) is DuplicateError and exc.existing_id == "01HZZZ"


def test_409_with_another_code_is_permanent_not_duplicate() -> None:
    assert type(_err(409, "conflict")) is PermanentError


def test_429_reads_retry_after() -> None:
    exc = _err(429, "throttled", headers={"Retry-After": "7"})
    assert type(exc) is RateLimitedError and exc.retry_after == 7.0
    assert exc.recovery is Recovery.RETRY_AFTER


def test_429_header_lookup_is_case_insensitive() -> None:
    exc = _err(429, "throttled", headers={"retry-after": "2"})
    assert isinstance(exc, RateLimitedError) and exc.retry_after == 2.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 524, 408])
def test_server_errors_are_transient(status: int) -> None:
    assert type(_err(status)) is TransientError


def test_error_without_json_body() -> None:
    exc = error_from_response(502, None, {}, operation="get_profiles")
    assert type(exc) is TransientError and "HTTP 502" in exc.message and "get_profiles" in exc.message


def test_transport_errors_are_transient() -> None:
    assert "timed out" in transport_error(TimeoutError()).message
    assert "ConnectionResetError" in transport_error(ConnectionResetError()).message


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 8, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) == DEFAULT_RETRY_AFTER
    assert parse_retry_after("soon") == DEFAULT_RETRY_AFTER
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0


# -- retry policy ------------------------------------------------------------------------------


def test_policy_honours_retry_after_plus_small_jitter() -> None:
    policy = RetryPolicy(max_retries=3)
    rng = random.Random(1)
    delays = [policy.delay(RateLimitedError("x", retry_after=4), 1, rng) for _ in range(200)]
    assert all(d is not None and 4.0 <= d <= 4.0 + policy.retry_after_jitter for d in delays)


def test_policy_full_jitter_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, base_backoff=0.5, max_backoff=4.0)
    rng = random.Random(2)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [policy.delay(TransientError("x"), attempt, rng) for _ in range(300)]
        assert all(d is not None and 0.0 <= d <= ceiling for d in delays)
        assert max(d for d in delays if d is not None) > ceiling * 0.8  # full jitter spans the range


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("x"),
        NotFoundError("x"),
        RecordValidationError("x"),
        DuplicateError("x"),
        CredentialsError("x"),
    ],
)
def test_policy_never_retries_non_transient_errors(error: CrmsyncError) -> None:
    assert RetryPolicy().delay(error, 1) is None


def test_policy_gives_up_after_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.delay(TransientError("x"), 2) is not None
    assert policy.delay(TransientError("x"), 3) is None
    assert RetryPolicy(max_retries=0).delay(RateLimitedError("x"), 1) is None
