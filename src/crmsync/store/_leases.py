"""Leases: who may work on a key right now — per-record exclusivity across workers and machines.

A lease is a row ``(name, owner, expires_at)``. Taking it is one ``INSERT ... ON CONFLICT (name)
DO UPDATE ... WHERE leases.expires_at < now`` statement: PostgreSQL's row lock on the conflicting
row serializes competing workers (SQLite: one writer at a time), and only a free or expired lease
changes hands. Claiming inbox work on PostgreSQL first locks the oldest due events with
``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent workers pick different keys instead of
racing for the same ones, then leases their keys in the same transaction. A working claimer renews
its leases (heartbeat); a worker that dies simply stops renewing: its leases expire and another
worker takes the keys over. No cluster protocol beyond the database's own locks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmsync.store._base import StoreBase, chunks, utcnow
from crmsync.store._inbox import _ROW_COLUMNS
from crmsync.store.schema import inbox, leases
from crmsync.store.types import InboxRow

_CLAIM_CHUNK = 500
_CLAIM_ROUNDS = 5
_LOCKED_BACKOFF_S = 0.01
_ROWS_PER_KEY = 4  # rows locked per wanted key: keys with several pending events take several rows


class LeaseMixin(StoreBase):
    def lease_acquire(self, names: list[str], owner: str, ttl: timedelta) -> list[str]:
        """Take (or renew) the leases on ``names`` that are free, expired or already ours."""
        if not names:
            return []
        with self._write("lease_acquire") as conn:
            return self._take(conn, names, owner, ttl)

    def _take(self, conn: Connection, names: Sequence[str], owner: str, ttl: timedelta) -> list[str]:
        now = utcnow()
        expires = now + ttl
        taken: list[str] = []
        for chunk in chunks(list(dict.fromkeys(names)), _CLAIM_CHUNK):
            insert = self._upsert(leases).values(
                [{"name": n, "owner": owner, "expires_at": expires, "acquired_at": now} for n in chunk]
            )
            stmt = insert.on_conflict_do_update(
                index_elements=[leases.c.name],
                set_={
                    "owner": insert.excluded.owner,
                    "expires_at": insert.excluded.expires_at,
                    "acquired_at": insert.excluded.acquired_at,
                },
                where=sa.or_(leases.c.expires_at < now, leases.c.owner == owner),
            ).returning(leases.c.name)
            taken.extend(row[0] for row in conn.execute(stmt))
        return taken

    def lease_release(self, names: list[str], owner: str) -> None:
        if not names:
            return
        with self._write("lease_release") as conn:
            for chunk in chunks(list(dict.fromkeys(names)), _CLAIM_CHUNK):
                conn.execute(leases.delete().where(leases.c.name.in_(chunk), leases.c.owner == owner))

    def lease_holders(self, prefix: str = "") -> dict[str, str]:
        """Current (unexpired) leases and their owners, for status pages and tests."""
        query = sa.select(leases.c.name, leases.c.owner).where(leases.c.expires_at >= utcnow())
        if prefix:
            query = query.where(leases.c.name.startswith(prefix, autoescape=True))
        with self._read("lease_holders") as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def _claim_skip_locked(
        self,
        due: sa.ColumnElement[bool],
        busy: sa.Select[tuple[str]],
        prefix: str,
        wanted: int,
        owner: str,
        ttl: timedelta,
    ) -> list[str]:
        """PostgreSQL: lock the oldest due events ``FOR UPDATE SKIP LOCKED`` and lease their keys.

        Competing workers skip each other's locked rows instead of queueing behind them, so each
        takes different keys; the lease upsert in the same transaction then makes the key (all its
        events, locked or not) this worker's until it releases it or dies.
        """
        rows = (
            sa.select(inbox.c.id, inbox.c.resource_id)
            .where(due, ~sa.exists(busy))
            .order_by(inbox.c.id)
            .limit(wanted * _ROWS_PER_KEY)
            .with_for_update(skip_locked=True, of=inbox)
        )
        with self._write("inbox_claim") as conn:
            resource_ids = list(dict.fromkeys(row[1] for row in conn.execute(rows)))[:wanted]
            return self._take(conn, [prefix + r for r in resource_ids], owner, ttl)

    def _claimable(self, due: sa.ColumnElement[bool], busy: sa.Select[tuple[str]]) -> bool:
        with self._read("inbox_claimable") as conn:
            query = sa.select(inbox.c.id).where(due, ~sa.exists(busy)).limit(1)
            return conn.execute(query).first() is not None

    def inbox_claim(
        self, source: str, kind: str, owner: str, ttl: timedelta, *, max_resources: int = 500
    ) -> tuple[list[InboxRow], list[str]]:
        """Lease the resources of the oldest due pending events, return their due events.

        Returns ``(rows, lease names)``; release the names (``lease_release``) when done. Resources
        leased by another live worker are skipped, so N workers share the inbox without ever
        working on one record at the same time.
        """
        now = utcnow()
        due = sa.and_(
            inbox.c.source == source,
            inbox.c.kind == kind,
            inbox.c.status == "pending",
            sa.or_(inbox.c.not_before.is_(None), inbox.c.not_before <= now),
        )
        prefix = f"res:{source}:{kind}:"
        busy = sa.select(leases.c.name).where(
            leases.c.name == sa.literal(prefix) + inbox.c.resource_id, leases.c.expires_at >= now
        )
        names: list[str] = []
        for _ in range(_CLAIM_ROUNDS):  # lost races free no keys for us: look at the next ones
            wanted = max_resources - len(names)
            if self.backend == "postgresql":
                names += self._claim_skip_locked(due, busy, prefix, wanted, owner, ttl)
            else:
                candidates = (
                    sa.select(inbox.c.resource_id)
                    .where(due, ~sa.exists(busy))
                    .group_by(inbox.c.resource_id)
                    .order_by(sa.func.min(inbox.c.id))
                    .limit(wanted)
                )
                with self._write("inbox_claim") as conn:  # SQLite: one writer, no races
                    resource_ids = [row[0] for row in conn.execute(candidates)]
                    names += self._take(conn, [prefix + r for r in resource_ids], owner, ttl)
                break
            if len(names) >= max_resources or not self._claimable(due, busy):
                break
            if self.backend == "postgresql":
                time.sleep(_LOCKED_BACKOFF_S)  # rows locked by another claimer: let it commit
        claimed = [n[len(prefix) :] for n in names]
        if not claimed:
            return [], []
        rows: list[InboxRow] = []
        with self._read("inbox_claim_rows") as conn:
            for chunk in chunks(claimed, _CLAIM_CHUNK):
                query = (
                    sa.select(*_ROW_COLUMNS).where(due, inbox.c.resource_id.in_(chunk)).order_by(inbox.c.id)
                )
                rows.extend(InboxRow(*row) for row in conn.execute(query))
        return rows, names
