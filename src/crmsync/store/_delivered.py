"""The last projection delivered per (record, target): what makes a re-run a no-op.

The engine compares a fresh projection's hash with the stored one and sends only what changed;
``save_delivered`` records the new state after the target accepted it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crmsync.store._base import StoreBase, Upsert, utcnow
from crmsync.store.schema import delivered
from crmsync.store.types import Delivered, DeliveredWrite

_UPDATED = ("payload", "hash", "source_version", "target_id", "delivered_at")


def _replace_delivered(stmt: Upsert) -> Upsert:
    return stmt.on_conflict_do_update(
        index_elements=["internal_id", "target"],
        set_={name: stmt.excluded[name] for name in _UPDATED},
    )


class DeliveredMixin(StoreBase):
    def get_delivered(self, target: str, internal_ids: list[str]) -> dict[str, Delivered]:
        """The stored projection for each id that has one; ids never delivered are absent."""
        if not internal_ids:
            return {}
        c = delivered.c
        columns = [c.internal_id, c.payload, c.hash, c.source_version, c.target_id, c.delivered_at]
        ids = list(dict.fromkeys(internal_ids))
        with self._read("get_delivered") as conn:
            return {
                row.internal_id: Delivered(
                    internal_id=row.internal_id,
                    target=target,
                    payload=row.payload,
                    hash=row.hash,
                    source_version=row.source_version,
                    target_id=row.target_id,
                    delivered_at=row.delivered_at,
                )
                for row in self._select_in(conn, columns, c.target == target, c.internal_id, ids)
            }

    def save_delivered(self, target: str, rows: list[DeliveredWrite]) -> None:
        """Upsert the delivered state of each record, in one transaction.

        When an id appears twice the last row wins (a single ``ON CONFLICT DO UPDATE`` statement may
        not touch a row twice on PostgreSQL).
        """
        if not rows:
            return
        latest = {row.internal_id: row for row in rows}
        now = utcnow()
        params: list[dict[str, Any]] = [
            {
                "internal_id": row.internal_id,
                "target": target,
                "payload": row.payload,
                "hash": row.hash,
                "source_version": row.source_version,
                "target_id": row.target_id,
                "delivered_at": now,
            }
            for _, row in sorted(latest.items())
        ]
        with self._write("save_delivered") as conn:
            self._insert_many(conn, delivered, params, _replace_delivered)

    def delivered_invalidate(self, target: str, internal_ids: list[str]) -> int:
        """Make the next projection of these records differ from the delivered one (the payload
        stays, as the base of the next delivery's clears): the target holds something else now."""
        if not internal_ids:
            return 0
        c = delivered.c
        with self._write("delivered_invalidate") as conn:
            result = conn.execute(
                delivered.update()
                .where(c.target == target, c.internal_id.in_(list(dict.fromkeys(internal_ids))))
                .values(hash="")
            )
            return int(result.rowcount or 0)

    def delivered_page(self, target: str, *, after: str | None = None, limit: int = 1000) -> list[Delivered]:
        """Delivered projections of a target in internal-id order (keyset paging with ``after``)."""
        c = delivered.c
        query = sa.select(
            c.internal_id, c.payload, c.hash, c.source_version, c.target_id, c.delivered_at
        ).where(c.target == target)
        if after is not None:
            query = query.where(c.internal_id > after)
        query = query.order_by(c.internal_id).limit(limit)
        with self._read("delivered_page") as conn:
            return [
                Delivered(
                    internal_id=row.internal_id,
                    target=target,
                    payload=row.payload,
                    hash=row.hash,
                    source_version=row.source_version,
                    target_id=row.target_id,
                    delivered_at=row.delivered_at,
                )
                for row in conn.execute(query)
            ]
