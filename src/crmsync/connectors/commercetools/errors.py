"""The one table that turns commercetools wire errors into :mod:`crmsync.errors` classes.

commercetools answers every 4xx/5xx with the envelope
``{"statusCode": 409, "message": "...", "errors": [{"code": "ConcurrentModification", ...}]}``
(auth errors add OAuth fields such as ``"error": "invalid_token"``). The engine never sees status
codes: it sees the class (and its ``recovery``). Keeping the decision in one table, keyed by
``(status, error code)`` with a per-status fallback, makes the policy reviewable in one place.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from crmsync.errors import (
    AuthError,
    ConcurrentModificationError,
    CredentialsError,
    CrmsyncError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    RecordValidationError,
    TransientError,
)

MAX_RETRY_AFTER_SECONDS = 3600.0
DEFAULT_RETRY_AFTER_SECONDS = 1.0
_ACTUAL_VERSION = re.compile(r"Actual:\s*(\d+)")


@dataclass(frozen=True)
class ErrorInfo:
    """A parsed error response: what the table decides on and what the raised error carries."""

    status: int
    code: str | None  # the first error code (or the OAuth ``error``) — None when the body had none
    message: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    correlation_id: str | None = None
    retry_after: float | None = None
    operation: str = "request"  # e.g. "GET /customers" (never a query string or a secret)
    connection: str | None = None

    def codes(self) -> list[str]:
        return [e["code"] for e in self.errors if isinstance(e.get("code"), str)]

    def first_with_code(self, code: str) -> dict[str, Any]:
        return next((e for e in self.errors if e.get("code") == code), {})

    def describe(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"commercetools {self.operation} failed with {self.status}{code}: {self.message}"

    def common(self) -> dict[str, Any]:
        """Keyword arguments every crmsync error gets: context, never secrets."""
        return {
            "connection": self.connection,
            "correlation_id": self.correlation_id,
            "status": self.status,
            "detail": self.errors or None,
        }


ErrorFactory = Callable[[ErrorInfo], CrmsyncError]


def _transient(info: ErrorInfo) -> CrmsyncError:
    return TransientError(info.describe(), **info.common())


def _permanent(info: ErrorInfo) -> CrmsyncError:
    return PermanentError(info.describe(), **info.common())


def _field_error(info: ErrorInfo) -> CrmsyncError:
    err = info.first_with_code(info.code or "")
    field_name = err.get("field")
    return RecordValidationError(
        info.describe(), field=field_name if isinstance(field_name, str) else None, **info.common()
    )


def _not_found(info: ErrorInfo) -> CrmsyncError:
    return NotFoundError(info.describe(), **info.common())


def _auth(info: ErrorInfo) -> CrmsyncError:
    return AuthError(info.describe(), **info.common())


def _credentials(info: ErrorInfo) -> CrmsyncError:
    return CredentialsError(
        info.describe() + " — check client_id, client_secret and scopes of this connection", **info.common()
    )


def _concurrent(info: ErrorInfo) -> CrmsyncError:
    err = info.first_with_code("ConcurrentModification")
    version = err.get("currentVersion")
    if not (isinstance(version, int) and not isinstance(version, bool)):
        found = _ACTUAL_VERSION.search(str(err.get("message") or info.message))
        version = int(found.group(1)) if found else None
    return ConcurrentModificationError(info.describe(), current_version=version, **info.common())


def _rate_limited(info: ErrorInfo) -> CrmsyncError:
    retry_after = info.retry_after if info.retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
    return RateLimitedError(info.describe(), retry_after=retry_after, **info.common())


# (status, error code) -> error class; (status, None) is the fallback for a status.
# Unknown statuses fall back by class: 5xx transient, anything else permanent (see map_error).
ERROR_TABLE: Mapping[tuple[int, str | None], ErrorFactory] = {
    (400, "InvalidField"): _field_error,
    (400, "RequiredField"): _field_error,
    (400, "DuplicateField"): _field_error,
    (400, "DuplicateFieldWithConflictingResource"): _field_error,
    (400, "InvalidInput"): _permanent,
    (400, "InvalidOperation"): _permanent,
    (400, "InvalidJsonInput"): _permanent,
    (400, "ReferencedResourceNotFound"): _permanent,
    (400, "SyntaxError"): _permanent,
    (400, "SemanticError"): _permanent,
    (400, "invalid_scope"): _credentials,  # token endpoint: a scope the client does not have
    (400, "invalid_request"): _credentials,
    (400, "unsupported_grant_type"): _credentials,
    (400, None): _permanent,
    (401, "invalid_token"): _auth,  # expired/revoked access token: refresh once, retry
    (401, "invalid_client"): _credentials,  # token endpoint: wrong client id/secret
    (401, "unauthorized_client"): _credentials,
    (401, "InvalidCredentials"): _credentials,
    (401, None): _auth,
    (403, "insufficient_scope"): _credentials,
    (403, None): _credentials,
    (404, None): _not_found,
    (409, "ConcurrentModification"): _concurrent,
    (409, None): _permanent,
    (429, None): _rate_limited,
    (500, None): _transient,
    (502, None): _transient,
    (503, None): _transient,
    (504, None): _transient,
}


def map_error(info: ErrorInfo, *, token_endpoint: bool = False) -> CrmsyncError:
    """Pick the error class for ``info`` from :data:`ERROR_TABLE`.

    Every code in ``errors[]`` is tried in order (a 409 may list several), then the status
    fallback, then the status class. On the token endpoint a refusal can never be fixed by
    "refreshing the token", so anything that is not retryable becomes a :class:`CredentialsError`.
    """
    factory: ErrorFactory | None = None
    for code in [*info.codes(), info.code]:
        factory = ERROR_TABLE.get((info.status, code))
        if factory is not None:
            break
    if factory is None:
        factory = ERROR_TABLE.get((info.status, None))
    if factory is None:
        factory = _transient if info.status >= 500 else _permanent
    error = factory(info)
    if token_endpoint and not isinstance(error, (TransientError, RateLimitedError, CredentialsError)):
        return _credentials(info)
    return error


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), clamped."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def parse_error_body(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    operation: str,
    connection: str | None = None,
) -> ErrorInfo:
    """Read the error envelope; tolerate bodies that are not the envelope (proxies answer HTML)."""
    payload: Any = None
    try:
        payload = json.loads(body) if body else None
    except (ValueError, RecursionError):
        payload = None
    errors: list[dict[str, Any]] = []
    message = ""
    code: str | None = None
    if isinstance(payload, dict):
        raw_errors = payload.get("errors")
        if isinstance(raw_errors, list):
            errors = [e for e in raw_errors if isinstance(e, dict)]
        msg = payload.get("message")
        message = msg if isinstance(msg, str) else ""
        oauth_error = payload.get("error")
        codes = [e["code"] for e in errors if isinstance(e.get("code"), str)]
        code = codes[0] if codes else (oauth_error if isinstance(oauth_error, str) else None)
        if not message:
            description = payload.get("error_description")
            message = description if isinstance(description, str) else ""
    if not message:
        text = body[:200].decode("utf-8", "replace").strip()
        message = text or "no error details in the response body"
    return ErrorInfo(
        status=status,
        code=code,
        message=message[:1000],
        errors=errors[:20],
        correlation_id=headers.get("X-Correlation-ID"),
        retry_after=parse_retry_after(headers.get("Retry-After")),
        operation=operation,
        connection=connection,
    )


def error_from_exception(
    exc: BaseException, *, operation: str, connection: str | None, correlation_id: str | None = None
) -> CrmsyncError:
    """Network-level failures (no usable response): resets, refused connections, timeouts."""
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        reason = "timed out"
    elif isinstance(exc, aiohttp.ClientConnectionError):
        reason = f"connection failed ({type(exc).__name__}: {exc})"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        reason = f"response body was cut off ({exc})"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return TransientError(
        f"commercetools {operation} {reason}", connection=connection, correlation_id=correlation_id
    )
