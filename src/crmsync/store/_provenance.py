"""Field-level provenance and the conflict log (per-attribute ownership of "customer truth").

``provenance`` keeps, per record, attribute (a target payload path) and system, the value that
system last reported and its version or time. The source's own values are the delivered projection
(``delivered``: value per path and the source version); values read back from a CRM are recorded
here. ``conflicts`` is the append-only log of disagreements and what was decided (the owner's value
stands). Both rows belong to their record: erasing the person deletes them (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.store._base import StoreBase, Upsert, utcnow
from crmsync.store.schema import conflicts, provenance


@dataclass(frozen=True, slots=True)
class Provenance:
    """What ``system`` says attribute ``path`` of a record is, as of ``source_version``/``source_at``."""

    internal_id: str
    path: str
    system: str
    value: Any
    source_version: str | None = None
    source_at: datetime | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two systems disagreed on ``path``; ``decision`` says what crmsync did (the owner's value stands)."""

    internal_id: str
    kind: str
    record_key: str
    path: str
    owner: str
    owner_value: Any
    other: str
    other_value: Any
    decision: str
    correlation_id: str | None = None
    at: datetime | None = None
    id: int | None = None


def _replace(stmt: Upsert) -> Upsert:
    return stmt.on_conflict_do_update(
        index_elements=["internal_id", "path", "system"],
        set_={n: stmt.excluded[n] for n in ("value", "source_version", "source_at", "recorded_at")},
    )


class ProvenanceMixin(StoreBase):
    def provenance_of(
        self, internal_ids: list[str], system: str | None = None
    ) -> dict[str, dict[str, Provenance]]:
        """``{internal id: {path: Provenance}}`` for one system (or every system when None: then
        the key is ``"<system>:<path>"``)."""
        if not internal_ids:
            return {}
        c = provenance.c
        where = c.system == system if system is not None else sa.true()
        cols = [c.internal_id, c.path, c.system, c.value, c.source_version, c.source_at, c.recorded_at]
        out: dict[str, dict[str, Provenance]] = {}
        with self._read("provenance_of") as conn:
            for row in self._select_in(conn, cols, where, c.internal_id, list(dict.fromkeys(internal_ids))):
                entry = Provenance(*row)
                key = row.path if system is not None else f"{row.system}:{row.path}"
                out.setdefault(row.internal_id, {})[key] = entry
        return out

    def provenance_put(self, entries: list[Provenance]) -> None:
        """Record (replace) what systems said; the last entry for one (record, path, system) wins."""
        if not entries:
            return
        now = utcnow()
        latest = {(e.internal_id, e.path, e.system): e for e in entries}
        params = [
            {
                "internal_id": e.internal_id,
                "path": e.path,
                "system": e.system,
                "value": e.value,
                "source_version": e.source_version,
                "source_at": e.source_at,
                "recorded_at": now,
            }
            for _, e in sorted(latest.items())
        ]
        with self._write("provenance_put") as conn:
            self._insert_many(conn, provenance, params, _replace)

    def conflict_add(self, items: list[Conflict]) -> None:
        if not items:
            return
        now = utcnow()
        params = [
            {
                "internal_id": c.internal_id,
                "kind": c.kind,
                "record_key": c.record_key,
                "path": c.path,
                "owner": c.owner,
                "owner_value": c.owner_value,
                "other": c.other,
                "other_value": c.other_value,
                "decision": c.decision,
                "correlation_id": c.correlation_id,
                "at": c.at or now,
            }
            for c in items
        ]
        with self._write("conflict_add") as conn:
            self._insert_many(conn, conflicts, params)

    def conflicts_list(
        self, *, kind: str | None = None, record_key: str | None = None, limit: int = 100
    ) -> list[Conflict]:
        """The newest conflicts first, optionally of one record."""
        c = conflicts.c
        query = sa.select(
            c.internal_id,
            c.kind,
            c.record_key,
            c.path,
            c.owner,
            c.owner_value,
            c.other,
            c.other_value,
            c.decision,
            c.correlation_id,
            c.at,
            c.id,
        )
        if kind is not None:
            query = query.where(c.kind == kind)
        if record_key is not None:
            query = query.where(c.record_key == record_key)
        query = query.order_by(c.id.desc()).limit(limit)
        with self._read("conflicts_list") as conn:
            return [Conflict(*row) for row in conn.execute(query)]
