"""Store failures, each carrying its recovery intent like every other :class:`CrmsyncError`.

SQLAlchemy and driver exceptions never cross the store's interface: the engine decides on
``error.recovery`` alone. Messages name the operation and the database *for display* (password
masked); statement parameters are never included (they may hold personal data).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError, StatementError

from crmsync.errors import ConfigError, CrmsyncError, Recovery


class StoreError(CrmsyncError):
    """A store operation failed and retrying it as is will not help."""

    recovery = Recovery.PERMANENT

    def __init__(self, message: str, *, operation: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.operation = operation


class StoreUnavailableError(StoreError):
    """The database could not be reached, or stayed locked/busy too long: back off and retry."""

    recovery = Recovery.RETRY


class StoreIntegrityError(StoreError):
    """A write broke a constraint (e.g. a link to a record that does not exist)."""


class UnknownRecordError(StoreIntegrityError):
    """The internal id names no record."""


class MigrationError(StoreError):
    """The schema could not be brought to the code's revision; nothing can run against it."""

    recovery = Recovery.FATAL


class StoreConfigError(ConfigError):
    """The store URL is not one the store supports (``sqlite:///...`` or ``postgresql://...``)."""


class InvalidValueError(StoreError, ValueError):
    """An argument the store cannot accept as is (a naive datetime, an unknown inbox status...)."""


# psycopg SQLSTATE classes/codes that mean "try again later", not "this is wrong".
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"})


def _sqlstate(orig: BaseException | None) -> str | None:
    value = getattr(orig, "sqlstate", None)
    return value if isinstance(value, str) else None


def is_unavailable(exc: DBAPIError) -> bool:
    """Does this driver error mean the database is unreachable, busy or locked (retry later)?"""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    state = _sqlstate(orig)
    if state is not None:
        return state.startswith("08") or state in _RETRY_SQLSTATES
    if isinstance(exc, OperationalError):
        text = str(orig).lower()
        if isinstance(orig, sqlite3.Error):
            return "locked" in text or "busy" in text
        # psycopg connection failures carry no SQLSTATE: there was no server to give one.
        return True
    return False


def translate_error(exc: SQLAlchemyError, *, operation: str, display: str) -> StoreError:
    """One SQLAlchemy/driver exception -> the StoreError subclass that says what to do about it.

    ``display`` is the masked URL. The message keeps the driver's text (it never holds parameter
    values: engines are created with ``hide_parameters=True``) but not the SQL statement.
    """
    where = f"{operation} on {display}"
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        if isinstance(exc.orig, ValueError):
            return InvalidValueError(f"{where}: {exc.orig}", operation=operation)
        return StoreError(f"{where} failed: {exc.orig or exc}", operation=operation)
    if isinstance(exc, DBAPIError):
        detail = str(exc.orig).strip() if exc.orig is not None else type(exc).__name__
        if is_unavailable(exc):
            return StoreUnavailableError(f"{where}: database unavailable: {detail}", operation=operation)
        if isinstance(exc, IntegrityError):
            return StoreIntegrityError(f"{where}: constraint violated: {detail}", operation=operation)
        if "no such table" in detail or _sqlstate(exc.orig) == "42P01":
            return StoreError(
                f"{where}: the schema is missing ({detail}); open the store with migrate=True",
                operation=operation,
            )
        return StoreError(f"{where} failed: {detail}", operation=operation)
    return StoreError(f"{where} failed: {exc}", operation=operation)
