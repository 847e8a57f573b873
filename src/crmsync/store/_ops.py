"""Dead letters and the sync log: what failed, and every request that was made.

A dead letter keeps an open failure visible until an operator replays or discards it; a record
has at most one *open* dead letter per (flow, kind): failing again updates it (attempts, reason,
last failure) instead of piling up copies. The sync log is append-only with a retention purge.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.store._base import StoreBase, chunks, require_aware, utcnow
from crmsync.store.errors import InvalidValueError
from crmsync.store.schema import dead_letters, sync_log
from crmsync.store.types import DEAD_LETTER_STATUSES, DeadLetter, DeadLetterIn, LogEntry

_DL_COLUMNS = [c for c in dead_letters.c]
_LOG_COLUMNS = [
    sync_log.c.at,
    sync_log.c.connection,
    sync_log.c.method,
    sync_log.c.url,
    sync_log.c.status,
    sync_log.c.latency_ms,
    sync_log.c.attempt,
    sync_log.c.operation,
    sync_log.c.correlation_id,
    sync_log.c.kind,
    sync_log.c.record_key,
    sync_log.c.error,
    sync_log.c.id,
]


class OpsMixin(StoreBase):
    # -- dead letters ---------------------------------------------------------------------------
    def dlq_add(self, letters: list[DeadLetterIn]) -> list[int]:
        """Park failures; returns their ids. An open letter for the same record is updated instead."""
        if not letters:
            return []
        now = utcnow()
        ids: list[int] = []
        c = dead_letters.c
        with self._write("dlq_add") as conn:
            for letter in letters:
                values: dict[str, Any] = {
                    "target": letter.target,
                    "reason": letter.reason,
                    "recovery": letter.recovery,
                    "error_type": letter.error_type,
                    "field": letter.field,
                    "status_code": letter.status_code,
                    "payload": letter.payload,
                    "detail": letter.detail,
                    "correlation_id": letter.correlation_id,
                    "last_failed_at": now,
                }
                existing = conn.scalar(
                    sa.select(c.id).where(
                        c.flow == letter.flow,
                        c.kind == letter.kind,
                        c.record_key == letter.record_key,
                        c.status == "open",
                    )
                )
                if existing is not None:
                    conn.execute(
                        dead_letters.update()
                        .where(c.id == existing)
                        .values(**values, attempts=c.attempts + letter.attempts)
                    )
                    ids.append(int(existing))
                    continue
                new_id = conn.scalar(
                    dead_letters.insert()
                    .values(
                        **values,
                        flow=letter.flow,
                        kind=letter.kind,
                        record_key=letter.record_key,
                        attempts=letter.attempts,
                        first_failed_at=now,
                        status="open",
                    )
                    .returning(c.id)
                )
                ids.append(int(new_id))
        return ids

    def dlq_list(
        self,
        status: str | None = "open",
        *,
        flow: str | None = None,
        kind: str | None = None,
        record_key: str | None = None,
        limit: int = 100,
        after_id: int | None = None,
    ) -> list[DeadLetter]:
        c = dead_letters.c
        query = sa.select(*_DL_COLUMNS)
        if status is not None:
            query = query.where(c.status == _dl_status(status))
        if flow is not None:
            query = query.where(c.flow == flow)
        if kind is not None:
            query = query.where(c.kind == kind)
        if record_key is not None:
            query = query.where(c.record_key == record_key)
        if after_id is not None:
            query = query.where(c.id > after_id)
        query = query.order_by(c.id).limit(limit)
        with self._read("dlq_list") as conn:
            return [DeadLetter(*row) for row in conn.execute(query)]

    def dlq_get(self, letter_id: int) -> DeadLetter | None:
        with self._read("dlq_get") as conn:
            row = conn.execute(sa.select(*_DL_COLUMNS).where(dead_letters.c.id == letter_id)).first()
        return DeadLetter(*row) if row is not None else None

    def dlq_resolve(self, ids: list[int], status: str) -> int:
        """Mark open letters ``replayed`` or ``discarded``; returns how many changed."""
        status = _dl_status(status)
        if status == "open":
            raise InvalidValueError("a dead letter is resolved as 'replayed' or 'discarded'")
        changed = 0
        with self._write("dlq_resolve") as conn:
            for chunk in chunks(sorted(set(ids)), 1000):
                result = conn.execute(
                    dead_letters.update()
                    .where(dead_letters.c.id.in_(chunk), dead_letters.c.status == "open")
                    .values(status=status, resolved_at=utcnow())
                )
                changed += result.rowcount or 0
        return changed

    def dlq_counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(DEAD_LETTER_STATUSES, 0)
        query = sa.select(dead_letters.c.status, sa.func.count()).group_by(dead_letters.c.status)
        with self._read("dlq_counts") as conn:
            for status, count in conn.execute(query):
                counts[status] = count
        return counts

    # -- sync log -------------------------------------------------------------------------------
    def log_add(self, entries: list[LogEntry]) -> int:
        if not entries:
            return 0
        rows = [
            {
                "at": require_aware(e.at, "log entry time"),
                "connection": e.connection,
                "operation": e.operation,
                "method": e.method,
                "url": e.url,
                "status": e.status,
                "latency_ms": float(e.latency_ms),
                "attempt": e.attempt,
                "correlation_id": e.correlation_id,
                "kind": e.kind,
                "record_key": e.record_key,
                "error": e.error,
            }
            for e in entries
        ]
        with self._write("log_add") as conn:
            for chunk in chunks(rows, 2000):
                conn.execute(sync_log.insert(), list(chunk))
        return len(rows)

    def log_query(
        self,
        *,
        correlation_id: str | None = None,
        kind: str | None = None,
        record_key: str | None = None,
        connection: str | None = None,
        since: datetime | None = None,
        limit: int = 200,
        latest: bool = False,
    ) -> list[LogEntry]:
        """Entries matching every given filter, oldest first: the first ``limit`` of them, or with
        ``latest`` the last ``limit``."""
        c = sync_log.c
        query = sa.select(*_LOG_COLUMNS)
        if correlation_id is not None:
            query = query.where(c.correlation_id == correlation_id)
        if record_key is not None:
            query = query.where(c.record_key == record_key)
        if kind is not None:
            query = query.where(c.kind == kind)
        if connection is not None:
            query = query.where(c.connection == connection)
        if since is not None:
            query = query.where(c.at >= require_aware(since, "since"))
        query = query.order_by(c.id.desc() if latest else c.id).limit(limit)
        with self._read("log_query") as conn:
            entries = [LogEntry(*row) for row in conn.execute(query)]
        return entries[::-1] if latest else entries

    def log_purge(self, older_than: datetime) -> int:
        """Delete entries older than ``older_than`` (the retention setting); returns how many."""
        with self._write("log_purge") as conn:
            result = conn.execute(
                sync_log.delete().where(sync_log.c.at < require_aware(older_than, "older_than"))
            )
        return result.rowcount or 0


def _dl_status(status: str) -> Any:
    if status not in DEAD_LETTER_STATUSES:
        raise InvalidValueError(
            f"unknown dead letter status {status!r}; expected one of {list(DEAD_LETTER_STATUSES)}"
        )
    return status
