"""Store URLs and SQLite connection settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.errors import Recovery
from crmsync.store import StateStore, StoreConfigError, StoreUnavailableError
from crmsync.store.database import display_url, is_sqlite_memory, normalize_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@db.example:5432/crm",
        "postgres://u:pw@db.example:5432/crm",
        "postgresql+psycopg2://u:pw@db.example:5432/crm",
        "postgresql+psycopg://u:pw@db.example:5432/crm",
    ],
)
def test_postgresql_urls_use_psycopg3(url: str) -> None:
    parsed = normalize_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.port, parsed.database, parsed.password) == ("db.example", 5432, "crm", "pw")
    assert display_url(parsed) == "postgresql+psycopg://u:***@db.example:5432/crm"


def test_sqlite_urls() -> None:
    assert normalize_url("sqlite:///state.db").database == "state.db"
    assert normalize_url("sqlite+pysqlite:///state.db").drivername == "sqlite"
    assert is_sqlite_memory(normalize_url("sqlite://"))
    assert is_sqlite_memory(normalize_url("sqlite:///:memory:"))
    assert not is_sqlite_memory(normalize_url("sqlite:///x.db"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root:hunter2@localhost/crm", "unsupported database 'mysql'"),
        ("sqlite+aiosqlite:///x.db", "unsupported SQLite driver"),
        ("definitely not a url :hunter2", "could not be parsed"),
    ],
)
def test_unsupported_urls_are_config_errors_without_the_password(url: str, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message) as failure:
        StateStore.open(url)
    assert failure.value.recovery is Recovery.FATAL
    assert failure.value.path == "store.url"
    assert "hunter2" not in str(failure.value)


def test_bad_timeout_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(StoreConfigError, match="timeout"):
        StateStore.open(f"sqlite:///{tmp_path}/x.db?timeout=soon")


def test_sqlite_file_gets_parent_dir_wal_and_pragmas_on_every_connection(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    with StateStore.open(f"sqlite:///{path}") as store:
        assert path.is_file()
        assert store.backend == "sqlite"
        engine = store.engine
        with engine.connect() as a, engine.connect() as b:  # two pooled connections
            for conn in (a, b):
                pragma = conn.exec_driver_sql
                assert pragma("PRAGMA journal_mode").scalar() == "wal"
                assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
                assert pragma("PRAGMA foreign_keys").scalar() == 1
                assert pragma("PRAGMA busy_timeout").scalar() == 30_000


def test_sqlite_home_relative_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with StateStore.open("sqlite:///~/crmsync/state.db") as store:
        assert store.url.database == str(tmp_path / "crmsync" / "state.db")
    assert (tmp_path / "crmsync" / "state.db").is_file()


def test_in_memory_store_works_for_unit_tests() -> None:
    with StateStore.open("sqlite://") as store:
        ids = store.ensure_records("customer", "commercetools", "id", ["a"])
        assert store.resolve("customer", "commercetools", "id", "a") == ids["a"]
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert store.url_for_display == "sqlite://"


def test_writer_waits_then_reports_a_locked_database_as_retryable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with StateStore.open(f"sqlite:///{path}?timeout=0.2") as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(StoreUnavailableError, match="locked") as failure:
                store.set_checkpoint("c", {"v": 1})
            assert failure.value.recovery is Recovery.RETRY
            assert failure.value.operation == "set_checkpoint"
            assert store.get_checkpoint("c") is None  # WAL: readers are not blocked by the writer
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.set_checkpoint("c", {"v": 1})
        assert store.get_checkpoint("c") == {"v": 1}


def test_close_is_idempotent_and_repr_is_masked() -> None:
    store = StateStore.open("sqlite://")
    assert repr(store) == "StateStore('sqlite://')"
    store.close()
    store.close()
    assert StateStore.display(sa.make_url("postgresql://a:b@h/d")) == "postgresql+psycopg://a:***@h/d"
