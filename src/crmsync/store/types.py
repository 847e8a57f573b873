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
