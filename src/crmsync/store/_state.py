"""Per-resource positions, named checkpoints and table statistics.

Positions keep event processing ordered per resource: ``advance_positions`` is a single upsert whose
``DO UPDATE ... WHERE stored < new`` clause makes it move forward only, atomically, even when two
workers advance the same resource at once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crmsync.store._base import StoreBase, Upsert, utcnow
from crmsync.store.errors import InvalidValueError
from crmsync.store.schema import checkpoints, delivered, identity_links, inbox, records
from crmsync.store.schema import positions as positions_table
from crmsync.store.types import INBOX_STATUSES


def _forward_only(stmt: Upsert) -> Upsert:
    return stmt.on_conflict_do_update(
        index_elements=["source", "kind", "resource_id"],
        set_={"sequence": stmt.excluded.sequence, "updated_at": stmt.excluded.updated_at},
        where=positions_table.c.sequence < stmt.excluded.sequence,
    )


class StateMixin(StoreBase):
    def get_positions(self, source: str, kind: str, resource_ids: list[str]) -> dict[str, int]:
        """The last applied sequence per resource; resources never advanced are absent."""
        if not resource_ids:
            return {}
        c = positions_table.c
        where = sa.and_(c.source == source, c.kind == kind)
        ids = list(dict.fromkeys(resource_ids))
        with self._read("get_positions") as conn:
            rows = self._select_in(conn, [c.resource_id, c.sequence], where, c.resource_id, ids)
            return {row[0]: row[1] for row in rows}

    def advance_positions(self, source: str, kind: str, positions: dict[str, int]) -> None:
        """Move each resource's position to the given sequence, unless it is already further."""
        if not positions:
            return
        now = utcnow()
        params: list[dict[str, Any]] = []
        for resource_id, sequence in sorted(positions.items()):
            if isinstance(sequence, bool) or not isinstance(sequence, int):
                raise InvalidValueError(f"position of {resource_id} must be an int, got {sequence!r}")
            params.append(
                {
                    "source": source,
                    "kind": kind,
                    "resource_id": resource_id,
                    "sequence": sequence,
                    "updated_at": now,
                }
            )
        with self._write("advance_positions") as conn:
            self._insert_many(conn, positions_table, params, _forward_only)

    def get_checkpoint(self, name: str) -> dict[str, Any] | None:
        with self._read("get_checkpoint") as conn:
            value = conn.scalar(sa.select(checkpoints.c.value).where(checkpoints.c.name == name))
        return dict(value) if value is not None else None

    def set_checkpoint(self, name: str, value: dict[str, Any]) -> None:
        """Replace the named document (a poll cursor, a bulk job's keyset position...)."""
        if not isinstance(value, dict):
            raise InvalidValueError(f"checkpoint {name!r} must be a JSON object, got {type(value).__name__}")
        stmt = self._upsert(checkpoints)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
        with self._write("set_checkpoint") as conn:
            conn.execute(stmt, {"name": name, "value": value, "updated_at": utcnow()})

    def delete_checkpoint(self, name: str) -> bool:
        """Forget a checkpoint (e.g. to restart a bulk job from the beginning)."""
        with self._write("delete_checkpoint") as conn:
            return conn.execute(checkpoints.delete().where(checkpoints.c.name == name)).rowcount > 0

    def stats(self) -> dict[str, int]:
        """Row counts: ``records``, ``identity_links``, ``delivered``, ``positions``, ``checkpoints``
        and ``inbox_<status>`` for every inbox status."""
        counted = {
            "records": records,
            "identity_links": identity_links,
            "delivered": delivered,
            "positions": positions_table,
            "checkpoints": checkpoints,
        }
        query = sa.union_all(
            *(sa.select(sa.literal(name), sa.func.count()).select_from(t) for name, t in counted.items()),
            sa.select(sa.literal("inbox_") + inbox.c.status, sa.func.count()).group_by(inbox.c.status),
        )
        result = dict.fromkeys([*counted, *(f"inbox_{s}" for s in INBOX_STATUSES)], 0)
        with self._read("stats") as conn:
            for name, count in conn.execute(query):
                result[str(name)] = int(count)
        return result
