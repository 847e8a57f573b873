"""Schema definitions: UTC datetimes, constraint names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.base import SQLiteDialect

from crmsync.store.schema import NAMING_CONVENTION, UTCDateTime, metadata

TOKYO = timezone(timedelta(hours=9))
PG = sa.create_engine("postgresql+psycopg://u@localhost/db").dialect  # never connects


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime().process_bind_param(datetime(2024, 1, 1), SQLiteDialect())


def test_aware_datetimes_are_stored_as_utc() -> None:
    value = datetime(2024, 1, 1, 9, 0, tzinfo=TOKYO)
    on_pg = UTCDateTime().process_bind_param(value, PG)
    assert on_pg == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert on_pg is not None and on_pg.tzinfo is UTC
    # SQLite has no zone type: naive UTC goes in, UTC is re-attached on the way out.
    on_sqlite = UTCDateTime().process_bind_param(value, SQLiteDialect())
    assert on_sqlite == datetime(2024, 1, 1, 0, 0)
    assert on_sqlite is not None and on_sqlite.tzinfo is None
    back = UTCDateTime().process_result_value(on_sqlite, SQLiteDialect())
    assert back == value and back is not None and back.tzinfo is UTC
    from_pg = UTCDateTime().process_result_value(value, PG)
    assert from_pg is not None and from_pg.tzinfo is UTC and from_pg == value
    assert UTCDateTime().process_bind_param(None, SQLiteDialect()) is None
    assert UTCDateTime().process_result_value(None, SQLiteDialect()) is None


def test_bind_processor_converts_each_distinct_value() -> None:
    process = UTCDateTime().bind_processor(SQLiteDialect())
    assert process is not None
    a = datetime(2024, 1, 1, 9, 0, tzinfo=TOKYO)
    b = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    first = process(a)
    assert process(a) is first  # cached for the same object
    assert process(b) != first
    assert process(datetime(2024, 1, 1, 9, 0, tzinfo=TOKYO)) == first  # equal value, new object
    assert process(None) is None
    with pytest.raises(ValueError):
        process(datetime(2024, 1, 1))


def test_every_constraint_and_index_has_a_conventional_name() -> None:
    assert set(NAMING_CONVENTION) == {"ix", "uq", "ck", "fk", "pk"}
    for table in metadata.tables.values():
        assert table.primary_key.name == f"pk_{table.name}"
        for constraint in table.constraints:
            assert constraint.name, (table.name, constraint)
        for index in table.indexes:
            assert index.name is not None and index.name.startswith(f"ix_{table.name}_")
    assert set(metadata.tables) == {
        "records",
        "identity_links",
        "delivered",
        "inbox",
        "positions",
        "checkpoints",
        "dead_letters",
        "sync_log",
        "leases",
        "rate_events",
        "sync_jobs",
        "tombstones",
        "provenance",
        "conflicts",
    }
