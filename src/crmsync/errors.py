"""Errors that carry their recovery intent.

Every exception raised across a seam (connector -> engine, store -> engine, config -> CLI) is a
:class:`CrmsyncError`. The engine never inspects vendor status codes; it reads ``error.recovery``
and acts on it. Connectors translate their vendor's wire errors into these classes through one
status -> action table each (see ``connectors/<vendor>/errors.py``).
"""

from __future__ import annotations

import enum
from typing import Any


class Recovery(enum.Enum):
    """What the engine should do with a failure."""

    RETRY = "retry"  # transient: back off (full jitter) and try again
    RETRY_AFTER = "retry_after"  # rate limited: wait ``retry_after`` seconds, then retry
    REFRESH_AUTH = "refresh_auth"  # refresh credentials once, then retry
    FETCH_MERGE_RETRY = "fetch_merge_retry"  # version conflict: re-read, merge, retry
    PERMANENT = "permanent"  # the record cannot be delivered as is: dead-letter it, keep going
    FATAL = "fatal"  # the run cannot continue (bad config, bad credentials): stop with a clear message


#: recoveries that mean "try again later" (the rest: park the record, or stop the run)
RETRYABLE = frozenset(
    {Recovery.RETRY, Recovery.RETRY_AFTER, Recovery.REFRESH_AUTH, Recovery.FETCH_MERGE_RETRY}
)


class CrmsyncError(Exception):
    """Base class. ``message`` is for users; ``context`` identifies what failed (never secrets)."""

    recovery: Recovery = Recovery.PERMANENT

    def __init__(
        self,
        message: str,
        *,
        connection: str | None = None,
        entity: str | None = None,
        record_key: str | None = None,
        correlation_id: str | None = None,
        status: int | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.connection = connection
        self.entity = entity
        self.record_key = record_key
        self.correlation_id = correlation_id
        self.status = status
        self.detail = detail

    def context(self) -> dict[str, Any]:
        ctx = {
            "connection": self.connection,
            "entity": self.entity,
            "record_key": self.record_key,
            "correlation_id": self.correlation_id,
            "status": self.status,
        }
        return {k: v for k, v in ctx.items() if v is not None}

    def __str__(self) -> str:
        ctx = ", ".join(f"{k}={v}" for k, v in self.context().items())
        return f"{self.message} ({ctx})" if ctx else self.message


class ConfigError(CrmsyncError):
    """A setting is missing or invalid. ``path`` names the setting (e.g. ``connections.shop.project_key``)."""

    recovery = Recovery.FATAL

    def __init__(self, message: str, *, path: str | None = None, **kw: Any) -> None:
        super().__init__(f"{path}: {message}" if path else message, **kw)
        self.path = path


class MappingError(CrmsyncError):
    """A mapping contract is invalid (FATAL at load) — raised while loading/validating a contract."""

    recovery = Recovery.FATAL


class RecordValidationError(CrmsyncError):
    """One record failed validation (source data or a target's 400 on a field). Dead-letter it."""

    recovery = Recovery.PERMANENT

    def __init__(self, message: str, *, field: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field


class PermanentError(CrmsyncError):
    """The target refused the request for good (400/403/404/422...)."""

    recovery = Recovery.PERMANENT


class NotFoundError(PermanentError):
    """The resource does not exist (404)."""


class TransientError(CrmsyncError):
    """5xx, timeouts, connection resets: retry with exponential backoff and full jitter."""

    recovery = Recovery.RETRY


class RateLimitedError(CrmsyncError):
    """429: wait ``retry_after`` seconds (from the ``Retry-After`` header) and retry."""

    recovery = Recovery.RETRY_AFTER

    def __init__(self, message: str, *, retry_after: float = 1.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class AuthError(CrmsyncError):
    """401: refresh the credentials once and retry; if it fails again the run stops."""

    recovery = Recovery.REFRESH_AUTH


class CredentialsError(CrmsyncError):
    """Credentials were refused outright (bad client id/secret, bad API key, missing scope)."""

    recovery = Recovery.FATAL


class ConcurrentModificationError(CrmsyncError):
    """409 version conflict: fetch the current version, merge, retry."""

    recovery = Recovery.FETCH_MERGE_RETRY

    def __init__(self, message: str, *, current_version: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.current_version = current_version


class DuplicateError(PermanentError):
    """The target already holds a record with one of these identifiers (Klaviyo 409 duplicate_profile).

    ``existing_id`` is the target's id of that record: link it instead of creating another.
    """

    def __init__(self, message: str, *, existing_id: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.existing_id = existing_id


class IngressError(CrmsyncError):
    """Malformed input at an ingress (HTTP 400 with ``reason``); nothing else is affected."""

    recovery = Recovery.PERMANENT

    def __init__(self, reason: str, *, status: int = 400, **kw: Any) -> None:
        super().__init__(reason, status=status, **kw)
        self.reason = reason
