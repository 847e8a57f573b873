"""Records and their identity links: which external ids name the same internal record.

Get-or-create is race-safe without locks: new records and links are inserted with
``ON CONFLICT DO NOTHING`` and the links are read back, so when two writers create the same external
id at once both end up with the winner's internal id; the loser's unused record row is deleted in
the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmsync.store._base import WRITE_CHUNK, StoreBase, chunks, utcnow
from crmsync.store.errors import StoreIntegrityError, UnknownRecordError
from crmsync.store.schema import identity_links, records
from crmsync.store.types import Link

_LINK_KEY = ["kind", "system", "id_kind", "value"]


class IdentityMixin(StoreBase):
    def ensure_records(self, kind: str, system: str, id_kind: str, external_ids: list[str]) -> dict[str, str]:
        """Internal ids for ``external_ids``, creating a record (and its link) for each new one.

        Existing ids cost one read; only the missing ones take a write transaction.
        """
        wanted = list(dict.fromkeys(external_ids))
        found = self.resolve_many(kind, system, id_kind, wanted)
        missing = sorted(v for v in wanted if v not in found)
        if missing:
            with self._write("ensure_records") as conn:
                found.update(self._create(conn, kind, system, id_kind, missing))
        return found

    def _create(
        self, conn: Connection, kind: str, system: str, id_kind: str, values: Sequence[str]
    ) -> dict[str, str]:
        now = utcnow()
        proposed = {value: uuid.uuid4().hex for value in values}
        self._insert_many(
            conn, records, [{"id": proposed[v], "kind": kind, "created_at": now} for v in values]
        )
        self._insert_many(
            conn,
            identity_links,
            [
                {
                    "kind": kind,
                    "system": system,
                    "id_kind": id_kind,
                    "value": v,
                    "internal_id": proposed[v],
                    "created_at": now,
                }
                for v in values
            ],
            lambda stmt: stmt.on_conflict_do_nothing(index_elements=_LINK_KEY),
        )
        # Read back who won: where another writer linked a value first, its record stands and the
        # one proposed here is an orphan.
        winners = self._lookup(conn, kind, system, id_kind, values)
        orphans = [proposed[v] for v in values if winners.get(v) != proposed[v]]
        for chunk in chunks(orphans, WRITE_CHUNK):
            conn.execute(records.delete().where(records.c.id.in_(chunk)))
        return winners

    def resolve(self, kind: str, system: str, id_kind: str, value: str) -> str | None:
        return self.resolve_many(kind, system, id_kind, [value]).get(value)

    def resolve_many(self, kind: str, system: str, id_kind: str, values: list[str]) -> dict[str, str]:
        """External id -> internal id for the values that are linked; unknown values are absent."""
        if not values:
            return {}
        with self._read("resolve") as conn:
            return self._lookup(conn, kind, system, id_kind, list(dict.fromkeys(values)))

    def _lookup(
        self, conn: Connection, kind: str, system: str, id_kind: str, values: Sequence[str]
    ) -> dict[str, str]:
        c = identity_links.c
        where = sa.and_(c.kind == kind, c.system == system, c.id_kind == id_kind)
        rows = self._select_in(conn, [c.value, c.internal_id], where, c.value, values)
        return {row[0]: row[1] for row in rows}

    def link(self, internal_id: str, kind: str, system: str, id_kind: str, value: str) -> str:
        """Attach an external id to a record; returns the record it is linked to.

        Idempotent. A value already linked to *another* record keeps that link (identities are never
        silently moved) and that record's id is returned, so the caller can see the conflict.
        """
        with self._write("link") as conn:
            record_kind = conn.scalar(sa.select(records.c.kind).where(records.c.id == internal_id))
            if record_kind is None:
                raise UnknownRecordError(f"no record {internal_id}", operation="link", entity=kind)
            if record_kind != kind:
                raise StoreIntegrityError(
                    f"record {internal_id} is a {record_kind!r}, cannot link it as a {kind!r}",
                    operation="link",
                    entity=kind,
                )
            conn.execute(
                self._upsert(identity_links).on_conflict_do_nothing(index_elements=_LINK_KEY),
                {
                    "kind": kind,
                    "system": system,
                    "id_kind": id_kind,
                    "value": value,
                    "internal_id": internal_id,
                    "created_at": utcnow(),
                },
            )
            return self._lookup(conn, kind, system, id_kind, [value])[value]

    def link_many(self, kind: str, system: str, id_kind: str, pairs: dict[str, str]) -> dict[str, str]:
        """``link`` for many records in one transaction: ``pairs`` maps internal id -> value.

        Returns value -> the record it is linked to (a value already linked to another record keeps
        that link, as with ``link``). Every record must exist and be of ``kind``.
        """
        if not pairs:
            return {}
        ids = list(pairs)
        with self._write("link_many") as conn:
            kinds = {
                row[0]: row[1]
                for row in self._select_in(conn, [records.c.id, records.c.kind], sa.true(), records.c.id, ids)
            }
            missing = [i for i in ids if i not in kinds]
            if missing:
                raise UnknownRecordError(f"no record {missing[0]}", operation="link_many", entity=kind)
            wrong = [i for i in ids if kinds[i] != kind]
            if wrong:
                raise StoreIntegrityError(
                    f"record {wrong[0]} is a {kinds[wrong[0]]!r}, cannot link it as a {kind!r}",
                    operation="link_many",
                    entity=kind,
                )
            rows = _link_rows(kind, system, {id_kind: pairs})
            self._insert_many(
                conn, identity_links, rows, lambda stmt: stmt.on_conflict_do_nothing(index_elements=_LINK_KEY)
            )
            return self._lookup(conn, kind, system, id_kind, list(dict.fromkeys(pairs.values())))

    def add_links(self, kind: str, system: str, by_kind: Mapping[str, Mapping[str, str]]) -> None:
        """Link many ids of records the caller has just ensured, in one transaction: ``by_kind`` maps
        an id kind to ``{internal id: value}``. A value already linked keeps its record (as with
        :meth:`link`); nothing is read back — the cheap path for the delivery hot loop."""
        rows = _link_rows(kind, system, by_kind)
        if not rows:
            return
        with self._write("add_links") as conn:
            self._insert_many(
                conn, identity_links, rows, lambda stmt: stmt.on_conflict_do_nothing(index_elements=_LINK_KEY)
            )

    def links(self, internal_id: str) -> list[Link]:
        """Every external id of a record, oldest first."""
        c = identity_links.c
        query = (
            sa.select(c.system, c.id_kind, c.value, c.created_at)
            .where(c.internal_id == internal_id)
            .order_by(c.created_at, c.system, c.id_kind, c.value)
        )
        with self._read("links") as conn:
            return [Link(r.system, r.id_kind, r.value, r.created_at) for r in conn.execute(query)]

    def record_kind(self, internal_id: str) -> str | None:
        """The kind of a record, or ``None`` when there is no such record."""
        with self._read("record_kind") as conn:
            return conn.scalar(sa.select(records.c.kind).where(records.c.id == internal_id))

    def forget(self, internal_ids: list[str]) -> int:
        """Delete records with their links and delivered projections (data erasure); returns how many.

        Inbox events are not touched: they are keyed by the source's ids, and the engine decides
        what an erasure means for events still pending.
        """
        deleted = 0
        with self._write("forget") as conn:
            for chunk in chunks(sorted(set(internal_ids)), WRITE_CHUNK):
                deleted += conn.execute(records.delete().where(records.c.id.in_(chunk))).rowcount
        return deleted


def _link_rows(kind: str, system: str, by_kind: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "kind": kind,
            "system": system,
            "id_kind": id_kind,
            "value": value,
            "internal_id": iid,
            "created_at": now,
        }
        for id_kind, pairs in by_kind.items()
        for iid, value in pairs.items()
    ]
