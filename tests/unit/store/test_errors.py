"""Driver errors become StoreError subclasses that carry the right recovery."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import (
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
    StatementError,
)

from crmsync.errors import Recovery
from crmsync.store.errors import (
    InvalidValueError,
    StoreError,
    StoreIntegrityError,
    StoreUnavailableError,
    translate_error,
)


def _translate(exc: Exception) -> StoreError:
    assert isinstance(exc, SQLAlchemyError)
    return translate_error(exc, operation="op", display="sqlite:///x.db")


def test_sqlite_busy_and_locked_are_retryable() -> None:
    for text in ("database is locked", "database table is locked", "database is busy"):
        error = _translate(OperationalError("stmt", {}, sqlite3.OperationalError(text)))
        assert isinstance(error, StoreUnavailableError)
        assert error.recovery is Recovery.RETRY
        assert error.operation == "op"
        assert "op on sqlite:///x.db" in error.message


def test_other_sqlite_operational_errors_are_not_retried() -> None:
    error = _translate(OperationalError("stmt", {}, sqlite3.OperationalError("no such table: inbox")))
    assert type(error) is StoreError
    assert "migrate=True" in error.message


def test_integrity_errors() -> None:
    error = _translate(IntegrityError("stmt", {}, sqlite3.IntegrityError("FOREIGN KEY constraint failed")))
    assert isinstance(error, StoreIntegrityError)
    assert error.recovery is Recovery.PERMANENT


@pytest.mark.parametrize(
    ("orig", "retry"),
    [
        (psycopg.errors.SerializationFailure("could not serialize"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.errors.UndefinedTable('relation "inbox" does not exist'), False),
        (psycopg.OperationalError("connection failed: Connection refused"), True),
    ],
)
def test_postgresql_errors_by_sqlstate(orig: Exception, retry: bool) -> None:
    wrapper = OperationalError if isinstance(orig, psycopg.OperationalError) else ProgrammingError
    error = _translate(wrapper("stmt", {}, orig))
    assert isinstance(error, StoreUnavailableError) is retry
    assert str(orig) in error.message


def test_bad_bound_values_are_invalid_value_errors() -> None:
    error = _translate(StatementError("bind failed", "stmt", {}, ValueError("naive datetime refused")))
    assert isinstance(error, InvalidValueError)
    assert "naive datetime" in error.message
    assert issubclass(InvalidValueError, ValueError)  # callers may catch it as a plain ValueError
