"""Klaviyo wire errors → crmsync errors, through one table, and the client-level retry policy.

Klaviyo answers every 4xx/5xx with a JSON:API error document::

    {"errors": [{"id": "...", "status": 409, "code": "duplicate_profile", "title": "Conflict.",
                 "detail": "A profile already exists with one of these identifiers.",
                 "source": {"pointer": "/data/attributes"},
                 "meta": {"duplicate_profile_id": "01JAFS0VVWGJFE7QE4EJQBA5AS"}}]}

:func:`error_from_response` is the only place that looks at a status code or an error ``code``.
Everything after it reads the crmsync class (and its ``recovery``), never the status.

The retry decision (:class:`RetryPolicy`) is keyed on :class:`crmsync.errors.Recovery`, not on
Klaviyo statuses, so the same table can drive the engine-level policy later.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

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

#: Status → error class, for errors that are not decided by their ``code`` or ``source.pointer``.
#: 401 is fatal on purpose: a Klaviyo private API key is a static secret with no refresh flow
#: (unlike an OAuth access token), so retrying after a 401 can only fail again — the run must stop
#: and tell the operator to fix the key.
STATUS_TABLE: dict[int, type[CrmsyncError]] = {
    400: PermanentError,
    401: CredentialsError,
    403: PermanentError,
    404: NotFoundError,
    405: PermanentError,
    408: TransientError,
    409: PermanentError,
    413: PermanentError,
    415: PermanentError,
    422: PermanentError,
    429: RateLimitedError,
}

#: (status, Klaviyo error code) → class; consulted before :data:`STATUS_TABLE`.
CODE_TABLE: dict[tuple[int, str], type[CrmsyncError]] = {
    (409, "duplicate_profile"): DuplicateError,
}

#: Statuses whose error carries a ``source.pointer`` naming the offending field of the record.
POINTER_STATUSES = frozenset({400})

DEFAULT_RETRY_AFTER = 1.0

_STATUS_HINTS: dict[type[CrmsyncError], str] = {
    CredentialsError: (
        "Klaviyo refused the API key (401). Private API keys cannot be refreshed: check that the "
        "key is correct, not revoked, and belongs to the intended account"
    ),
}


def field_from_pointer(pointer: str | None) -> str | None:
    """The profile field a JSON pointer designates, dotted, e.g. ``"phone_number"``, ``"location.zip"``.

    Works for single-record pointers (``/data/attributes/phone_number``) and for pointers into a
    bulk job (``/data/attributes/profiles/data/3/attributes/email``): the field is what follows the
    last ``attributes`` segment. ``None`` when the pointer designates the whole record.
    """
    if not pointer:
        return None
    segments = [s.replace("~1", "/").replace("~0", "~") for s in pointer.strip("/").split("/") if s]
    if "attributes" not in segments:
        return None
    last = len(segments) - 1 - segments[::-1].index("attributes")
    rest = segments[last + 1 :]
    return ".".join(rest) or None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110)."""
    if not value:
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return 0.0
    return seconds


def first_error(body: Any) -> dict[str, Any]:
    """The first entry of a JSON:API ``errors`` array, or ``{}`` when the body is not one."""
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            return dict(errors[0])
    return {}


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    connection: str | None = None,
    operation: str | None = None,
    record_key: str | None = None,
    correlation_id: str | None = None,
) -> CrmsyncError:
    """Translate one non-2xx Klaviyo response into the crmsync error that says what to do."""
    err = first_error(body)
    code = str(err.get("code") or "")
    detail = str(err.get("detail") or err.get("title") or f"HTTP {status}")
    source = _mapping(err.get("source"))
    pointer = source.get("pointer") if isinstance(source.get("pointer"), str) else None
    where = f"klaviyo {operation}" if operation else "klaviyo"
    ctx: dict[str, Any] = {
        "connection": connection,
        "entity": "profile",
        "record_key": record_key,
        "correlation_id": correlation_id,
        "status": status,
        "detail": body.get("errors") if isinstance(body, Mapping) else None,
    }

    if status in POINTER_STATUSES and pointer:
        fld = field_from_pointer(pointer)
        label = f" field {fld!r}" if fld else ""
        return RecordValidationError(f"{where}: invalid{label}: {detail}", field=fld, **ctx)

    cls = CODE_TABLE.get((status, code)) or STATUS_TABLE.get(status)
    if cls is None:
        cls = TransientError if status >= 500 else PermanentError
    message = f"{where}: HTTP {status}{f' {code}' if code else ''}: {detail}"
    if cls in _STATUS_HINTS:
        message = f"{where}: {_STATUS_HINTS[cls]} ({detail})"

    if cls is DuplicateError:
        existing = _mapping(err.get("meta")).get("duplicate_profile_id")
        return DuplicateError(message, existing_id=str(existing) if existing else None, **ctx)
    if cls is RateLimitedError:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        return RateLimitedError(message, retry_after=retry_after, **ctx)
    return cls(message, **ctx)


def transport_error(
    exc: BaseException,
    *,
    connection: str | None = None,
    operation: str | None = None,
    record_key: str | None = None,
    correlation_id: str | None = None,
) -> TransientError:
    """A timeout, reset or refused connection: the request may be retried.

    The aiohttp exception is described by its type and text (host and port at most); it is not
    chained, because some aiohttp exceptions carry the request's headers, Authorization included.
    """
    if isinstance(exc, TimeoutError):
        kind = "timed out"
    else:
        text = str(exc)
        kind = f"failed ({type(exc).__name__}{': ' + text if text else ''})"
    where = f"klaviyo {operation}" if operation else "klaviyo"
    return TransientError(
        f"{where}: request {kind}",
        connection=connection,
        entity="profile",
        record_key=record_key,
        correlation_id=correlation_id,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying, decided by the error's ``recovery`` only.

    * ``RETRY`` (5xx, timeouts, resets): exponential backoff with full jitter —
      ``uniform(0, min(max_backoff, base * 2**(attempt-1)))`` (AWS architecture blog, "Exponential
      Backoff and Jitter").
    * ``RETRY_AFTER`` (429): exactly the server's ``Retry-After`` plus a small jitter, so that
      concurrent requests throttled together do not all come back in the same instant.
    * anything else: never retried here (permanent, fatal, duplicate, auth).
    """

    max_retries: int = 6
    base_backoff: float = 0.5
    max_backoff: float = 30.0
    retry_after_jitter: float = 0.25
    retryable: frozenset[Recovery] = field(
        default_factory=lambda: frozenset({Recovery.RETRY, Recovery.RETRY_AFTER})
    )

    def delay(self, error: CrmsyncError, attempt: int, rng: random.Random | None = None) -> float | None:
        """Seconds to sleep before attempt ``attempt + 1``, or ``None`` to give up."""
        if error.recovery not in self.retryable or attempt > self.max_retries:
            return None
        rnd = rng or random
        if error.recovery is Recovery.RETRY_AFTER:
            retry_after = getattr(error, "retry_after", DEFAULT_RETRY_AFTER)
            return float(retry_after) + rnd.uniform(0.0, self.retry_after_jitter)
        ceiling = min(self.max_backoff, self.base_backoff * (2 ** (attempt - 1)))
        return rnd.uniform(0.0, ceiling)
