"""Value types that cross the store's interface.

Plain frozen dataclasses rather than ORM objects: callers (engine, CLI, worker) get detached values
they can keep, compare and pass between threads, and the store stays free to batch its SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

JSONDict = dict[str, Any]

InboxStatus = Literal["pending", "done", "stale", "failed"]
INBOX_STATUSES: Final[tuple[InboxStatus, ...]] = ("pending", "done", "stale", "failed")


@dataclass(frozen=True, slots=True)
class Link:
    """One external identifier of a record: ``value`` in ``system`` as an ``id_kind`` (e.g. email)."""

    system: str
    id_kind: str
    value: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivered:
    """The last projection delivered for a record to a target, and what the target called it."""

    internal_id: str
    target: str
    payload: JSONDict
    hash: str
    source_version: int | None
    target_id: str | None
    delivered_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveredWrite:
    """What :meth:`StateStore.save_delivered` records; ``delivered_at`` is the store's clock."""

    internal_id: str
    payload: JSONDict
    hash: str
    source_version: int | None = None
    target_id: str | None = None


@dataclass(frozen=True, slots=True)
class InboxEventIn:
    """A source event about to enter the durable inbox; ``(source, event_id)`` deduplicates it."""

    event_id: str
    kind: str
    resource_id: str
    event_type: str
    occurred_at: datetime
    sequence: int | None = None
    payload: JSONDict = field(default_factory=dict)
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class InboxRow:
    """A stored inbox event. ``id`` grows with arrival, so ordering by it is received order."""

    id: int
    source: str
    event_id: str
    kind: str
    resource_id: str
    event_type: str
    occurred_at: datetime
    sequence: int | None
    payload: JSONDict
    correlation_id: str | None
    received_at: datetime
    status: InboxStatus
    attempts: int
    error: str | None


DeadLetterStatus = Literal["open", "replayed", "discarded"]
DEAD_LETTER_STATUSES: Final[tuple[DeadLetterStatus, ...]] = ("open", "replayed", "discarded")


@dataclass(frozen=True, slots=True)
class DeadLetterIn:
    """A delivery that failed for good (or ran out of attempts), with everything needed to act on it."""

    flow: str
    target: str
    kind: str
    record_key: str
    reason: str
    recovery: str
    error_type: str
    attempts: int
    field: str | None = None
    status_code: int | None = None
    payload: JSONDict | None = None
    detail: JSONDict | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    flow: str
    target: str
    kind: str
    record_key: str
    reason: str
    recovery: str
    error_type: str
    field: str | None
    status_code: int | None
    payload: JSONDict | None
    detail: JSONDict | None
    attempts: int
    correlation_id: str | None
    first_failed_at: datetime
    last_failed_at: datetime
    status: DeadLetterStatus
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One outbound request as the sync log keeps it (URLs already free of secrets and PII)."""

    at: datetime
    connection: str
    method: str
    url: str
    status: int | None
    latency_ms: float
    attempt: int = 1
    operation: str | None = None
    correlation_id: str | None = None
    kind: str | None = None
    record_key: str | None = None
    error: str | None = None
    id: int | None = None


SyncJobStatus = Literal["running", "stopping", "stopped", "completed", "failed"]
SYNC_JOB_STATUSES: Final[tuple[SyncJobStatus, ...]] = (
    "running",
    "stopping",
    "stopped",
    "completed",
    "failed",
)
ACTIVE_JOB_STATUSES: Final[tuple[SyncJobStatus, ...]] = ("running", "stopping")


@dataclass(frozen=True, slots=True)
class SyncJob:
    """One bulk sync run started from the API or CLI: its progress, errors and outcome.

    ``counts`` holds the progress figures (read, delivered, unchanged, failed, phase ...);
    ``errors`` the first failures (record, reason, field). A job whose worker died keeps status
    ``running`` until a worker resumes it (``resumes`` counts how often that happened).
    """

    id: int
    flow: str
    kind: str
    status: SyncJobStatus
    ids: list[str] | None
    restart: bool
    owner: str
    created_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    stop_requested: bool
    counts: JSONDict
    errors: list[JSONDict]
    resumes: int
