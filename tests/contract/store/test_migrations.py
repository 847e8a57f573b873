"""Migrations produce exactly the schema in crmsync.store.schema; opening at head changes nothing."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from crmsync.store import StateStore, StoreError
from crmsync.store.migrate import alembic_config, head_revision
from crmsync.store.schema import VERSION_TABLE, metadata


def _diff(conn: Connection, target: sa.MetaData = metadata) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True, "version_table": VERSION_TABLE}
    )
    return list(compare_metadata(context, target))


def _snapshot(conn: Connection) -> dict[str, Any]:
    """Everything reflection tells about each table, in a comparable form."""
    inspector = sa.inspect(conn)
    tables: dict[str, Any] = {}
    for name in sorted(inspector.get_table_names()):
        if name == VERSION_TABLE:
            continue
        tables[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement"))
                for c in inspector.get_columns(name)
            ],
            "pk": inspector.get_pk_constraint(name),
            "fks": sorted(
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    tuple(sorted(fk.get("options", {}).items())),
                )
                for fk in inspector.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(name)
            ),
            "uniques": sorted(
                (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(name)
            ),
            "checks": sorted(
                (c["name"], " ".join(c["sqltext"].split())) for c in inspector.get_check_constraints(name)
            ),
        }
    return tables


def test_migrations_create_exactly_the_declared_schema(store: StateStore) -> None:
    engine = store.engine
    with engine.connect() as conn:
        assert _diff(conn) == []
        migrated = _snapshot(conn)
    assert set(migrated) == set(metadata.tables)

    # The same database, rebuilt by metadata.create_all after downgrading to an empty schema.
    with engine.connect() as conn:
        command.downgrade(alembic_config(conn), "base")
    with engine.connect() as conn:
        assert _snapshot(conn) == {}
        assert store.current_revision() is None
    with engine.begin() as conn:
        metadata.create_all(conn)
    with engine.connect() as conn:
        assert _diff(conn) == []
        assert _snapshot(conn) == migrated


def test_the_comparison_sees_a_difference(store: StateStore) -> None:
    """Guard for the test above: a schema the migrations do not create must show up in the diff."""
    changed = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["records"].append_column(sa.Column("note", sa.Text, nullable=True))
    with store.engine.connect() as conn:
        diff = _diff(conn, changed)
    assert [op[0] for op in diff] == ["add_column"]
    assert diff[0][3].name == "note"


def test_open_at_head_is_a_no_op(store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with StateStore.open(store_url) as first:
        assert first.current_revision() == head_revision() == StateStore.head_revision()
        first.set_checkpoint("kept", {"v": 1})

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    caplog.set_level(logging.INFO)
    try:
        with StateStore.open(store_url) as again:
            assert again.current_revision() == head_revision()
            changes_before = list(statements)
            again.migrate()
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        caplog.set_level(logging.WARNING)
    writes = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")
    assert changes_before, "the version check must have run"
    assert not [s for s in statements if s.lstrip().upper().startswith(writes)]
    assert not [
        r for r in caplog.records if "Running upgrade" in r.getMessage() or "migrated" in r.getMessage()
    ]
    with StateStore.open(store_url) as third:
        assert third.get_checkpoint("kept") == {"v": 1}


def test_open_without_migrating_then_migrate(store_url: str) -> None:
    with StateStore.open(store_url, migrate=False) as store:
        assert store.current_revision() is None
        with pytest.raises(StoreError, match="migrate=True"):
            store.get_checkpoint("x")
        store.migrate()
        assert store.current_revision() == head_revision()
        assert store.get_checkpoint("x") is None


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []
    revisions: list[str | None] = []

    def open_store() -> None:
        try:
            barrier.wait(timeout=10)
            with StateStore.open(store_url) as store:
                revisions.append(store.current_revision())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert revisions == [head_revision()] * 3
    with StateStore.open(store_url) as store, store.engine.connect() as conn:
        assert _diff(conn) == []


@pytest.mark.slow
def test_concurrent_processes_migrate_a_fresh_database(store_url: str) -> None:
    """Separate processes (no shared in-process lock): the database itself serializes them."""
    code = (
        "import sys; from crmsync.store import StateStore\n"
        "with StateStore.open(sys.argv[1]) as s: print(s.current_revision())\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, store_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == head_revision()
    with StateStore.open(store_url) as store, store.engine.connect() as conn:
        assert _diff(conn) == []
