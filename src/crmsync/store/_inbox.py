"""The durable inbox: source events are stored before anything acts on them.

Events are deduplicated by ``(source, event_id)`` at insert (``ON CONFLICT DO NOTHING``), so a
redelivered webhook or a re-polled message page is harmless. ``id`` grows with arrival (SQLite
``AUTOINCREMENT``, PostgreSQL ``BIGSERIAL``), so "oldest first" is ``ORDER BY id`` on the
``(source, status, id)`` index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.store._base import WRITE_CHUNK, StoreBase, chunks, require_aware, utcnow
from crmsync.store.errors import InvalidValueError
from crmsync.store.schema import inbox
from crmsync.store.types import INBOX_STATUSES, InboxEventIn, InboxRow, InboxStatus

_ROW_COLUMNS = [
    inbox.c.id,
    inbox.c.source,
    inbox.c.event_id,
    inbox.c.kind,
    inbox.c.resource_id,
    inbox.c.event_type,
    inbox.c.occurred_at,
    inbox.c.sequence,
    inbox.c.payload,
    inbox.c.correlation_id,
    inbox.c.received_at,
    inbox.c.status,
    inbox.c.attempts,
    inbox.c.error,
]


def _check_status(status: str) -> InboxStatus:
    if status not in INBOX_STATUSES:
        raise InvalidValueError(f"unknown inbox status {status!r}; expected one of {list(INBOX_STATUSES)}")
    return status


class InboxMixin(StoreBase):
    def inbox_add(self, source: str, events: list[InboxEventIn]) -> int:
        """Store the events not seen before; returns how many were new. All or nothing."""
        if not events:
            return 0
        now = utcnow()
        params: list[dict[str, Any]] = []
        seen: set[str] = set()
        for event in events:
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
            params.append(
                {
                    "source": source,
                    "event_id": event.event_id,
                    "kind": event.kind,
                    "resource_id": event.resource_id,
                    "event_type": event.event_type,
                    "occurred_at": require_aware(event.occurred_at, f"event {event.event_id} occurred_at"),
                    "sequence": event.sequence,
                    "payload": event.payload,
                    "correlation_id": event.correlation_id,
                    "received_at": now,
                    "status": "pending",
                    "attempts": 0,
                }
            )
        with self._write("inbox_add") as conn:
            added = self._insert_many(
                conn,
                inbox,
                params,
                lambda stmt: stmt.on_conflict_do_nothing(index_elements=["source", "event_id"]).returning(
                    inbox.c.id
                ),
            )
        return len(added)

    def inbox_pending(self, source: str, limit: int = 500) -> list[InboxRow]:
        """Pending events of a source that are due (no retry backoff in force), oldest first."""
        now = utcnow()
        query = (
            sa.select(*_ROW_COLUMNS)
            .where(
                inbox.c.source == source,
                inbox.c.status == "pending",
                sa.or_(inbox.c.not_before.is_(None), inbox.c.not_before <= now),
            )
            .order_by(inbox.c.id)
            .limit(limit)
        )
        with self._read("inbox_pending") as conn:
            return [InboxRow(*row) for row in conn.execute(query)]

    def inbox_rows(
        self, source: str, status: str = "pending", *, limit: int = 500, after_id: int | None = None
    ) -> list[InboxRow]:
        """Events of a source in one status, in received order; ``after_id`` pages through them."""
        status = _check_status(status)
        query = sa.select(*_ROW_COLUMNS).where(inbox.c.source == source, inbox.c.status == status)
        if after_id is not None:
            query = query.where(inbox.c.id > after_id)
        query = query.order_by(inbox.c.id).limit(limit)
        with self._read("inbox_rows") as conn:
            return [InboxRow(*row) for row in conn.execute(query)]

    def inbox_mark(
        self,
        ids: list[int],
        status: str,
        error: str | None = None,
        *,
        count_attempt: bool = True,
        not_before: datetime | None = None,
    ) -> None:
        """Record the outcome of processing events: ``done``, ``stale``, ``failed`` or back to ``pending``.

        Each mark counts one processing attempt unless ``count_attempt=False`` (an operator
        re-queueing failed events is not an attempt). ``error`` replaces the previous one (``None``
        clears it).
        """
        status = _check_status(status)
        if not ids:
            return
        values: dict[str, Any] = {
            "status": status,
            "error": error,
            "not_before": require_aware(not_before, "not_before") if not_before is not None else None,
        }
        if count_attempt:
            values["attempts"] = inbox.c.attempts + 1
        with self._write("inbox_mark") as conn:
            for chunk in chunks(sorted(set(ids)), WRITE_CHUNK):
                conn.execute(inbox.update().where(inbox.c.id.in_(chunk)).values(values))

    def inbox_for(self, source: str, resource_id: str, *, limit: int = 100) -> list[InboxRow]:
        """The latest events of one resource, oldest first (``crmsync explain``)."""
        query = (
            sa.select(*_ROW_COLUMNS)
            .where(inbox.c.source == source, inbox.c.resource_id == resource_id)
            .order_by(inbox.c.id.desc())
            .limit(limit)
        )
        with self._read("inbox_for") as conn:
            return [InboxRow(*row) for row in conn.execute(query)][::-1]

    def inbox_delete(self, source: str, resource_ids: list[str]) -> int:
        """Delete every event of these resources (an erased person's events must not be kept)."""
        if not resource_ids:
            return 0
        deleted = 0
        with self._write("inbox_delete") as conn:
            for chunk in chunks(sorted(set(resource_ids)), WRITE_CHUNK):
                query = inbox.delete().where(inbox.c.source == source, inbox.c.resource_id.in_(chunk))
                deleted += conn.execute(query).rowcount or 0
        return deleted

    def inbox_counts(self, source: str | None = None) -> dict[str, int]:
        """Events per status (every status present, zero included), for one source or all."""
        query = sa.select(inbox.c.status, sa.func.count()).group_by(inbox.c.status)
        if source is not None:
            query = query.where(inbox.c.source == source)
        counts: dict[str, int] = dict.fromkeys(INBOX_STATUSES, 0)
        with self._read("inbox_counts") as conn:
            for status, count in conn.execute(query):
                counts[status] = count
        return counts

    def inbox_purge(
        self,
        older_than: datetime,
        *,
        statuses: tuple[str, ...] = ("done", "stale"),
        source: str | None = None,
    ) -> int:
        """Delete settled events received before ``older_than`` (retention); returns how many."""
        checked = [_check_status(s) for s in statuses]
        if "pending" in checked:
            raise InvalidValueError("pending events cannot be purged: they have not been processed")
        cutoff = require_aware(older_than, "older_than")
        query = inbox.delete().where(inbox.c.status.in_(checked), inbox.c.received_at < cutoff)
        if source is not None:
            query = query.where(inbox.c.source == source)
        with self._write("inbox_purge") as conn:
            return conn.execute(query).rowcount
