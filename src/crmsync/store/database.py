"""Turning a store URL into a configured SQLAlchemy engine.

* ``sqlite:///path.db`` — the parent directory is created; every connection gets WAL,
  ``synchronous=NORMAL`` (durable at checkpoints, fast commits), a busy timeout and foreign keys.
  pysqlite's own transaction handling is switched off and the store emits ``BEGIN`` itself, so DDL
  is transactional and write transactions can take the write lock up front (``BEGIN IMMEDIATE``):
  a deferred transaction that reads and then writes can fail with ``SQLITE_BUSY`` without waiting.
* ``sqlite://`` — in memory, one connection shared by every thread (``StaticPool``); for unit tests.
* ``postgresql://``, ``postgres://``, ``postgresql+<any driver>://`` — normalized to psycopg 3.

Statement parameters are hidden from SQLAlchemy's errors and logs (they hold personal data), and URLs
are only ever shown with the password masked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from crmsync.store.errors import StoreConfigError

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
"""How long a SQLite writer waits for another writer before giving up (StoreUnavailableError);
``sqlite:///path.db?timeout=5`` sets it in seconds."""

SQLITE_CACHE_KIB: Final = 65_536
"""Page cache per connection (64 MiB, allocated on use): the default 2 MiB thrashes on batch upserts."""

SQLITE_BEGIN_OPTION: Final = "crmsync_sqlite_begin"
"""Execution option naming the ``BEGIN`` mode for a SQLite transaction: DEFERRED or IMMEDIATE."""

PG_CONNECT_TIMEOUT_S: Final = 10

BeginMode = Literal["DEFERRED", "IMMEDIATE"]
_BEGIN_MODES: Final = frozenset({"DEFERRED", "IMMEDIATE"})


def json_dumps(value: Any) -> str:
    """orjson, as text: SQLite's JSON type and psycopg both accept it."""
    return orjson.dumps(value).decode()


def normalize_url(url: str | URL) -> URL:
    """Parse and check a store URL; PostgreSQL URLs get the psycopg 3 driver.

    The raw URL is never echoed back in the error: it may carry a password.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise StoreConfigError(
            "store URL could not be parsed; expected sqlite:///path.db or postgresql://user@host/db",
            path="store.url",
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.drivername != "sqlite" and parsed.get_driver_name() != "pysqlite":
            raise StoreConfigError(
                f"unsupported SQLite driver {parsed.get_driver_name()!r}; use sqlite:///path.db",
                path="store.url",
            )
        parsed = parsed.set(drivername="sqlite")
        if not is_sqlite_memory(parsed) and not _is_uri(parsed):
            parsed = parsed.set(database=str(Path(str(parsed.database)).expanduser()))
        return parsed
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise StoreConfigError(
        f"unsupported database {backend!r}; the store runs on sqlite or postgresql", path="store.url"
    )


def display_url(url: URL) -> str:
    """The URL with its password masked, for logs, errors and ``StateStore.url_for_display``."""
    return url.render_as_string(hide_password=True)


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _is_uri(url: URL) -> bool:
    """``sqlite:///file:name?mode=ro&uri=true``: SQLite interprets the name, not the filesystem."""
    return url.query.get("uri") in ("true", "1")


def create_store_engine(url: URL) -> Engine:
    """An engine for a URL already passed through :func:`normalize_url`."""
    common: dict[str, Any] = {
        "json_serializer": json_dumps,
        "json_deserializer": orjson.loads,
        "hide_parameters": True,
    }
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, common)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    if "application_name" not in url.query:
        connect_args["application_name"] = "crmsync"
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args, **common)


def _sqlite_busy_timeout_ms(url: URL) -> int:
    """``?timeout=SECONDS`` in the URL (pysqlite's own parameter) overrides the default wait."""
    raw = url.query.get("timeout")
    if raw is None:
        return SQLITE_BUSY_TIMEOUT_MS
    try:
        seconds = float(raw if isinstance(raw, str) else raw[0])
    except ValueError:
        raise StoreConfigError(
            f"timeout must be a number of seconds, not {raw!r}", path="store.url"
        ) from None
    return max(0, round(seconds * 1000))


def _sqlite_engine(url: URL, common: dict[str, Any]) -> Engine:
    memory = is_sqlite_memory(url)
    busy_ms = _sqlite_busy_timeout_ms(url)
    connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_ms / 1000}
    if memory:
        engine = sa.create_engine(
            url.set(database=":memory:"), poolclass=StaticPool, connect_args=connect_args, **common
        )
    else:
        if not _is_uri(url):
            Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args=connect_args, **common)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: the "begin" hook below owns transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in _BEGIN_MODES:
            raise ValueError(f"{SQLITE_BEGIN_OPTION} must be one of {sorted(_BEGIN_MODES)}, not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
