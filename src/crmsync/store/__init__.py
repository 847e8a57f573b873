"""The state store: what crmsync remembers between runs, on SQLite (WAL) or PostgreSQL.

``StateStore.open(url)`` connects and migrates (Alembic, scripts shipped in this package). Tables:
records and their identity links, the last delivered projection per (record, target), the durable
inbox of source events, per-resource positions and named checkpoints. SQL is SQLAlchemy Core; the
schema is defined once in :mod:`crmsync.store.schema`.
"""

from crmsync.store._erasure import PurgeCounts, Tombstone
from crmsync.store._provenance import Conflict, Provenance
from crmsync.store.errors import (
    InvalidValueError,
    MigrationError,
    StoreConfigError,
    StoreError,
    StoreIntegrityError,
    StoreUnavailableError,
    UnknownRecordError,
)
from crmsync.store.store import StateStore
from crmsync.store.types import (
    DEAD_LETTER_STATUSES,
    INBOX_STATUSES,
    DeadLetter,
    DeadLetterIn,
    Delivered,
    DeliveredWrite,
    InboxEventIn,
    InboxRow,
    InboxStatus,
    Link,
    LogEntry,
    SyncJob,
    SyncJobStatus,
)

__all__ = [
    "DEAD_LETTER_STATUSES",
    "INBOX_STATUSES",
    "Conflict",
    "DeadLetter",
    "DeadLetterIn",
    "Delivered",
    "DeliveredWrite",
    "InboxEventIn",
    "InboxRow",
    "InboxStatus",
    "InvalidValueError",
    "Link",
    "LogEntry",
    "MigrationError",
    "Provenance",
    "PurgeCounts",
    "StateStore",
    "StoreConfigError",
    "StoreError",
    "StoreIntegrityError",
    "StoreUnavailableError",
    "SyncJob",
    "SyncJobStatus",
    "Tombstone",
    "UnknownRecordError",
]
