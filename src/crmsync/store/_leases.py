"""Leases: who may work on a key right now — per-record exclusivity across workers and machines.

A lease is a row ``(name, owner, expires_at)``. Taking it is one ``INSERT ... ON CONFLICT (name)
DO UPDATE ... WHERE leases.expires_at < now`` statement: PostgreSQL's row lock on the conflicting
row serializes competing workers (SQLite: one writer at a time), and only a free or expired lease
changes hands. A worker that dies simply stops renewing: its leases expire and another worker
takes the keys over. No cluster protocol beyond the database's own locks.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crmsync.store._base import StoreBase, chunks, utcnow
from crmsync.store._inbox import _ROW_COLUMNS
from crmsync.store.schema import inbox, leases
from crmsync.store.types import InboxRow

_CLAIM_CHUNK = 500
_CLAIM_ROUNDS = 5


class LeaseMixin(StoreBase):
    def lease_acquire(self, names: list[str], owner: str, ttl: timedelta) -> list[str]:
        """Take (or renew) the leases on ``names`` that are free, expired or already ours."""
        if not names:
            return []
        now = utcnow()
        expires = now + ttl
        taken: list[str] = []
        with self._write("lease_acquire") as conn:
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
            candidates = (
                sa.select(inbox.c.resource_id)
                .where(due, ~sa.exists(busy))
                .group_by(inbox.c.resource_id)
                .order_by(sa.func.min(inbox.c.id))
                .limit(wanted)
            )
            with self._read("inbox_claim") as conn:
                resource_ids = [row[0] for row in conn.execute(candidates)]
            if not resource_ids:
                break
            names += self.lease_acquire([prefix + r for r in resource_ids], owner, ttl)
            if len(names) >= max_resources:
                break
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
