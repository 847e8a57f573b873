"""What every part of the store shares: the engine, transactions, chunking and upserts.

Reads run in ordinary (deferred) transactions; writes on SQLite start with ``BEGIN IMMEDIATE`` so a
writer waits (busy timeout) for the lock instead of failing half-way when it upgrades from reading.
On PostgreSQL both are plain ``READ COMMITTED`` transactions; writes touching several rows sort them
by key so two concurrent writers lock rows in the same order and cannot deadlock. (The inbox keeps
arrival order instead; two writers adding the same events in opposite orders may deadlock, which
PostgreSQL resolves by aborting one: a retryable :class:`StoreUnavailableError`.)

Every driver error leaves through :func:`translate_error` as a :class:`StoreError` subclass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from crmsync.store.database import SQLITE_BEGIN_OPTION, display_url
from crmsync.store.errors import InvalidValueError, translate_error

T = TypeVar("T")

IN_CHUNK: Final = 5_000
"""Values per ``IN (...)`` list: under SQLite's variable limit (32,766 since 3.32; 250,000 on
Debian builds) and PostgreSQL's 65,535 bind parameters, and large enough that 10,000 ids are two
statements."""

WRITE_CHUNK: Final = 5_000
"""Rows per insert statement (PostgreSQL) or executemany batch (SQLite): bounds the memory one
statement's parameters take."""

Upsert = postgresql.Insert | sqlite.Insert
AnyRow = sa.Row[*tuple[Any, ...]]
_TEXT_ARRAY = postgresql.ARRAY(sa.Text)


def utcnow() -> datetime:
    return datetime.now(UTC)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


class StoreBase:
    """Holds the engine; the feature mixins build on its transaction helpers."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        self._url = url
        self.url_for_display: str = display_url(url)
        self.backend: str = engine.dialect.name

    @contextmanager
    def _read(self, operation: str) -> Iterator[Connection]:
        """A read transaction; driver errors become :class:`StoreError` subclasses."""
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise translate_error(exc, operation=operation, display=self.url_for_display) from exc

    @contextmanager
    def _write(self, operation: str) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        try:
            with self._write_engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise translate_error(exc, operation=operation, display=self.url_for_display) from exc

    def _upsert(self, table: sa.Table) -> Upsert:
        """``INSERT`` with the backend's ``ON CONFLICT`` clause (same API on both dialects)."""
        if self.backend == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _insert_many(
        self,
        conn: Connection,
        table: sa.Table,
        rows: Sequence[dict[str, Any]],
        finish: Callable[[Upsert], sa.Insert] = lambda stmt: stmt,
    ) -> list[AnyRow]:
        """Insert ``rows`` (all with the same keys) in chunks; ``finish`` adds ON CONFLICT/RETURNING.

        SQLite: one ``executemany`` per chunk. PostgreSQL: one statement per chunk,
        ``INSERT ... SELECT ... FROM jsonb_populate_recordset(NULL::table, :rows)``, the rows sent
        as one JSON document (serialized by orjson, parsed by the server). Per-row statements
        through psycopg's pipeline took ~1 s for 10,000 rows, array parameters ~0.7 s (psycopg
        quotes every array element in Python); this takes ~0.1 s. Values must therefore be JSON
        natives or timezone-aware datetimes (orjson writes ISO 8601 with the offset).
        Returns the rows of a RETURNING clause (empty without one).
        """
        if not rows:
            return []
        names = list(rows[0])
        returned: list[AnyRow] = []
        for chunk in chunks(rows, WRITE_CHUNK):
            if self.backend == "postgresql":
                records = sa.func.jsonb_populate_recordset(
                    sa.literal_column(f"NULL::{table.name}"),
                    sa.bindparam("rows", type_=postgresql.JSONB),
                ).table_valued(*names)
                source = sa.select(*(records.c[name] for name in names))
                stmt = finish(postgresql.insert(table).from_select(names, source))
                result = conn.execute(stmt, {"rows": list(chunk)})
            else:
                result = conn.execute(finish(sqlite.insert(table)), list(chunk))
            if result.returns_rows:
                returned.extend(result.all())
        return returned

    @staticmethod
    def _select_in(
        conn: Connection,
        columns: Iterable[sa.ColumnElement[Any]],
        where: sa.ColumnElement[bool],
        key: sa.ColumnElement[Any],
        values: Sequence[str],
    ) -> Iterator[AnyRow]:
        """``SELECT columns WHERE where AND key IN values``, chunked."""
        cols = list(columns)
        postgres = conn.dialect.name == "postgresql"
        if postgres and len(values) > 1:
            # psycopg prepares a statement after 5 runs, and PostgreSQL may then switch it to a
            # generic plan, in which ``= ANY($1)`` is no longer hashed: every row is compared with
            # every element (measured 0.02 s -> 2.3 s for 10,000 ids). Plan for the actual array.
            conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        for chunk in chunks(values, IN_CHUNK):
            if postgres:
                # One array parameter: a 5,000-placeholder IN list costs psycopg more to parse
                # (uncached above 4 KiB of SQL) than the server takes to run the query.
                match = key == sa.any_(sa.bindparam("values", list(chunk), type_=_TEXT_ARRAY))
            else:
                match = key.in_(chunk)
            yield from conn.execute(sa.select(*cols).where(where, match)).all()
