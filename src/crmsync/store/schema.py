"""The store's tables, defined once.

Migrations under ``migrations/versions`` create exactly this schema (a test compares both on SQLite
and PostgreSQL), and ``python -m crmsync.store.revision`` autogenerates the next revision from a diff
against it. The naming convention gives every constraint and index a deterministic name, so the
comparison is stable and a later migration can drop or alter a constraint by name on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VERSION_TABLE = "crmsync_alembic_version"
"""Alembic's bookkeeping table; prefixed so the store can share a PostgreSQL database with other apps."""

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

_NOTHING = object()


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no timezone type, so values are stored as naive UTC
    text and UTC is re-attached on read. Naive datetimes are refused on the way in: guessing their
    zone is how event times silently shift by hours.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """Convert each distinct datetime once per batch.

        Batch writes stamp every row with the same ``now`` object; remembering the last conversion
        (keyed by identity: the cell keeps the object alive, so its id cannot be reused) saves the
        per-row zone conversion and SQLite's string formatting, a third of a 10,000-row insert.
        The cell is swapped as one tuple, so threads sharing the processor never see a torn pair.
        """
        convert = super().bind_processor(dialect)
        if convert is None:  # pragma: no cover - TypeDecorator always provides one
            return None
        last: list[tuple[Any, Any]] = [(_NOTHING, None)]

        def process(value: Any) -> Any:
            seen, result = last[0]
            if value is seen:
                return result
            result = convert(value)
            last[0] = (value, result)
            return result

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers always give datetimes here
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON documents: ``JSONB`` on PostgreSQL (compact, indexable), JSON text on SQLite."""

InternalId = sa.String(32)
"""uuid4 hex."""

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""64-bit on PostgreSQL; ``INTEGER PRIMARY KEY`` (the rowid) on SQLite, which is what autoincrements."""

INBOX_STATUS_CHECK = "status IN ('pending', 'done', 'stale', 'failed')"

records = sa.Table(
    "records",
    metadata,
    sa.Column("id", InternalId, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

identity_links = sa.Table(
    "identity_links",
    metadata,
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("system", sa.Text, nullable=False),
    sa.Column("id_kind", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column(
        "internal_id",
        InternalId,
        sa.ForeignKey("records.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("kind", "system", "id_kind", "value"),
)

delivered = sa.Table(
    "delivered",
    metadata,
    sa.Column("internal_id", InternalId, sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("source_version", sa.BigInteger, nullable=True),
    sa.Column("target_id", sa.Text, nullable=True),
    sa.Column("delivered_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("internal_id", "target"),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("resource_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=True),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("correlation_id", sa.Text, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("not_before", UTCDateTime, nullable=True),  # retry backoff: not processed before this
    sa.UniqueConstraint("source", "event_id"),
    sa.CheckConstraint(INBOX_STATUS_CHECK, name="status"),
    sa.Index(None, "source", "status", "id"),
    # AUTOINCREMENT: SQLite never reuses an id, even after pruning, so "after id N" cursors stay valid.
    sqlite_autoincrement=True,
)

positions = sa.Table(
    "positions",
    metadata,
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("resource_id", sa.Text, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("source", "kind", "resource_id"),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

DEAD_LETTER_STATUS_CHECK = "status IN ('open', 'replayed', 'discarded')"

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("record_key", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("recovery", sa.Text, nullable=False),
    sa.Column("error_type", sa.Text, nullable=False),
    sa.Column("field", sa.Text, nullable=True),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("payload", JSONType, nullable=True),
    sa.Column("detail", JSONType, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("correlation_id", sa.Text, nullable=True),
    sa.Column("first_failed_at", UTCDateTime, nullable=False),
    sa.Column("last_failed_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="open"),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.CheckConstraint(DEAD_LETTER_STATUS_CHECK, name="status"),
    sa.Index(None, "status", "id"),
    sa.Index(None, "kind", "record_key"),
    sqlite_autoincrement=True,
)

sync_log = sa.Table(
    "sync_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("connection", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=True),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("correlation_id", sa.Text, nullable=True),
    sa.Column("kind", sa.Text, nullable=True),
    sa.Column("record_key", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index(None, "correlation_id"),
    sa.Index(None, "kind", "record_key"),
    sa.Index(None, "at"),
    sqlite_autoincrement=True,
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
)

rate_events = sa.Table(
    "rate_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("bucket", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index(None, "bucket", "at"),
    sqlite_autoincrement=True,
)

SYNC_JOB_STATUS_CHECK = "status IN ('running', 'stopping', 'stopped', 'completed', 'failed')"

sync_jobs = sa.Table(
    "sync_jobs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("ids", JSONType, nullable=True),
    sa.Column("restart", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("stop_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("counts", JSONType, nullable=False),
    sa.Column("errors", JSONType, nullable=False),
    sa.Column("resumes", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint(SYNC_JOB_STATUS_CHECK, name="status"),
    sa.Index(None, "flow", "kind", "id"),
    sa.Index(None, "status"),
    sqlite_autoincrement=True,
)

tombstones = sa.Table(
    "tombstones",
    metadata,
    sa.Column("digest", sa.Text, primary_key=True),  # keyed hash of one identifier (never the value)
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("erased_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

# Field-level provenance of values other systems hold for a record (two-way flows): what the CRM
# said an attribute (a target payload path) is, and since when. The source side's provenance is the
# delivered projection (value per path + source version); together they name who said what.
provenance = sa.Table(
    "provenance",
    metadata,
    sa.Column("internal_id", InternalId, sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("system", sa.Text, nullable=False),
    sa.Column("value", JSONType, nullable=True),
    sa.Column("source_version", sa.Text, nullable=True),
    sa.Column("source_at", UTCDateTime, nullable=True),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("internal_id", "path", "system"),
)

# Every ownership conflict and what was decided: two systems disagree on an attribute, the owner's
# value stands. Goes with the record (erasure).
conflicts = sa.Table(
    "conflicts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("internal_id", InternalId, sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("record_key", sa.Text, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False),  # the system that owns the attribute
    sa.Column("owner_value", JSONType, nullable=True),
    sa.Column("other", sa.Text, nullable=False),  # the system whose value was not taken
    sa.Column("other_value", JSONType, nullable=True),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("correlation_id", sa.Text, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index(None, "kind", "record_key", "id"),
    sqlite_autoincrement=True,
)
