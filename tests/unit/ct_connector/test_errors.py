"""The status/error-code → crmsync error table, on the vendor's real error envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from crmsync.connectors.commercetools.errors import (
    error_from_exception,
    map_error,
    parse_error_body,
    parse_retry_after,
)
from crmsync.errors import (
    AuthError,
    ConcurrentModificationError,
    CredentialsError,
    CrmsyncError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    RecordValidationError,
    Recovery,
    TransientError,
)


def envelope(status: int, *errors: dict[str, Any], **extra: Any) -> bytes:
    message = errors[0]["message"] if errors else "error"
    return json.dumps({"statusCode": status, "message": message, "errors": list(errors), **extra}).encode()


def err(code: str, message: str = "msg", **fields: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **fields}


def to_error(
    status: int, body: bytes, headers: dict[str, str] | None = None, *, token_endpoint: bool = False
) -> CrmsyncError:
    info = parse_error_body(status, body, headers or {}, operation="GET /customers", connection="shop")
    return map_error(info, token_endpoint=token_endpoint)


@pytest.mark.parametrize(
    ("status", "body", "cls", "recovery"),
    [
        (400, envelope(400, err("InvalidInput")), PermanentError, Recovery.PERMANENT),
        (400, envelope(400, err("InvalidOperation")), PermanentError, Recovery.PERMANENT),
        (400, envelope(400, err("SyntaxError"), err("SemanticError")), PermanentError, Recovery.PERMANENT),
        (
            400,
            envelope(400, err("InvalidField", field="email", invalidValue="x")),
            RecordValidationError,
            Recovery.PERMANENT,
        ),
        (400, envelope(400, err("RequiredField", field="email")), RecordValidationError, Recovery.PERMANENT),
        (
            400,
            envelope(400, err("DuplicateField", field="email", duplicateValue="a@b")),
            RecordValidationError,
            Recovery.PERMANENT,
        ),
        (400, envelope(400, err("SomethingNew")), PermanentError, Recovery.PERMANENT),
        (401, envelope(401, err("invalid_token"), error="invalid_token"), AuthError, Recovery.REFRESH_AUTH),
        (401, envelope(401, err("invalid_client"), error="invalid_client"), CredentialsError, Recovery.FATAL),
        (
            403,
            envelope(403, err("insufficient_scope", "Insufficient scope. One of ... is missing")),
            CredentialsError,
            Recovery.FATAL,
        ),
        (
            404,
            envelope(404, err("ResourceNotFound", "The Resource with ID 1 was not found.")),
            NotFoundError,
            Recovery.PERMANENT,
        ),
        (404, b"", NotFoundError, Recovery.PERMANENT),
        (
            409,
            envelope(409, err("ConcurrentModification", currentVersion=7)),
            ConcurrentModificationError,
            Recovery.FETCH_MERGE_RETRY,
        ),
        (409, envelope(409, err("LockedField", field="email")), PermanentError, Recovery.PERMANENT),
        (413, envelope(413, err("ResourceSizeLimitExceeded")), PermanentError, Recovery.PERMANENT),
        (429, b"", RateLimitedError, Recovery.RETRY_AFTER),
        (500, envelope(500, err("General")), TransientError, Recovery.RETRY),
        (502, b"<html>Bad Gateway</html>", TransientError, Recovery.RETRY),
        (503, envelope(503, err("OverCapacity")), TransientError, Recovery.RETRY),
        (503, envelope(503, err("PendingOperation")), TransientError, Recovery.RETRY),
        (504, b"", TransientError, Recovery.RETRY),
        (507, b"", TransientError, Recovery.RETRY),
        (418, b"", PermanentError, Recovery.PERMANENT),
    ],
)
def test_table(status: int, body: bytes, cls: type[CrmsyncError], recovery: Recovery) -> None:
    error = to_error(status, body, {"X-Correlation-ID": "proj/abc"})
    assert type(error) is cls
    assert error.recovery is recovery
    assert error.status == status
    assert error.correlation_id == "proj/abc"
    assert error.connection == "shop"
    assert "GET /customers" in error.message


def test_field_and_current_version_are_carried() -> None:
    error = to_error(400, envelope(400, err("InvalidField", field="dateOfBirth", invalidValue="x")))
    assert isinstance(error, RecordValidationError) and error.field == "dateOfBirth"
    error = to_error(409, envelope(409, err("ConcurrentModification", "conflict", currentVersion=3)))
    assert isinstance(error, ConcurrentModificationError) and error.current_version == 3


def test_current_version_falls_back_to_the_message_text() -> None:
    message = "Object 3cd has a different version than expected. Expected: 1 - Actual: 2."
    error = to_error(409, envelope(409, err("ConcurrentModification", message)))
    assert isinstance(error, ConcurrentModificationError) and error.current_version == 2


def test_any_code_in_the_list_can_decide() -> None:
    body = envelope(409, err("SomethingElse"), err("ConcurrentModification", currentVersion=5))
    error = to_error(409, body)
    assert isinstance(error, ConcurrentModificationError) and error.current_version == 5


def test_vendor_error_example_without_current_version() -> None:
    body = json.dumps(
        {
            "statusCode": 409,
            "message": "Version mismatch. Concurrent modification.",
            "errors": [
                {"code": "ConcurrentModification", "message": "Version mismatch. Concurrent modification."}
            ],
        }
    ).encode()
    error = to_error(409, body)
    assert isinstance(error, ConcurrentModificationError) and error.current_version is None


def test_rate_limit_reads_retry_after() -> None:
    error = to_error(429, b"", {"Retry-After": "12"})
    assert isinstance(error, RateLimitedError) and error.retry_after == 12.0
    error = to_error(429, b"")
    assert isinstance(error, RateLimitedError) and error.retry_after == 1.0


def test_token_endpoint_refusals_are_credentials_errors() -> None:
    body = envelope(
        401,
        err("invalid_client", "Please provide valid client credentials using HTTP Basic Authentication."),
        error="invalid_client",
    )
    error = to_error(401, body, token_endpoint=True)
    assert isinstance(error, CredentialsError)
    assert "check client_id, client_secret" in error.message
    assert isinstance(
        to_error(400, envelope(400, err("invalid_scope")), token_endpoint=True), CredentialsError
    )
    assert isinstance(to_error(404, b"not here", token_endpoint=True), CredentialsError)
    assert isinstance(
        to_error(401, envelope(401, err("invalid_token")), token_endpoint=True), CredentialsError
    )
    assert isinstance(to_error(503, b"", token_endpoint=True), TransientError)


def test_oauth_style_body_without_errors_list() -> None:
    body = json.dumps({"error": "invalid_client", "error_description": "bad creds"}).encode()
    info = parse_error_body(401, body, {}, operation="POST /oauth/token")
    assert info.code == "invalid_client" and info.message == "bad creds"
    assert isinstance(map_error(info), CredentialsError)


@pytest.mark.parametrize("body", [b"\x00\xff", b"[1,2]", b'{"errors": "nope", "message": 5}', b"[" * 50_000])
def test_unexpected_bodies_do_not_break_parsing(body: bytes) -> None:
    info = parse_error_body(502, body, {}, operation="GET /customers")
    assert info.errors == [] and info.message
    assert isinstance(map_error(info), TransientError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("999999", 3600.0),
        ("nan", None),
        ("garbage", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        aiohttp.ServerTimeoutError("read timeout"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("cut"),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
    ],
)
def test_network_failures_are_transient(exc: BaseException) -> None:
    error = error_from_exception(exc, operation="GET /customers", connection="shop", correlation_id="c1")
    assert isinstance(error, TransientError)
    assert error.correlation_id == "c1" and error.connection == "shop"
