"""GDPR erasure in the store: purge a person's data, keep a tombstone of hashed identifiers.

The tombstone holds one keyed hash (HMAC-SHA256) per identifier — the source id, the e-mail, the
phone number — never the values: enough to recognise the person if they come back (an event for
an erased customer is refused), useless for recovering who they were. The key is generated once
per store (a random 32-byte secret in the ``checkpoints`` table), so a leaked tombstone list cannot
be matched against a dictionary of e-mail addresses without the database as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, quote_plus

import sqlalchemy as sa

from crmsync.store._base import StoreBase, utcnow
from crmsync.store.schema import checkpoints, dead_letters, inbox, positions, records, sync_log, tombstones

_KEY_NAME = "erasure:tombstone-key"


@dataclass(frozen=True, slots=True)
class Tombstone:
    kind: str
    erased_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    records: int
    inbox: int
    dead_letters: int
    log_entries: int


def normalize_identifier(name: str, value: str) -> str:
    text = value.strip()
    return text.casefold() if name == "email" else text


class ErasureMixin(StoreBase):
    def _tombstone_key(self) -> bytes:
        cached: bytes | None = getattr(self, "_tombstone_key_cache", None)
        if cached is not None:  # read once per store object: it never changes once written
            return cached
        with self._read("tombstone_key") as conn:
            row = conn.execute(sa.select(checkpoints.c.value).where(checkpoints.c.name == _KEY_NAME)).first()
        if row is not None:
            self._tombstone_key_cache = bytes.fromhex(row[0]["key"])
            return self._tombstone_key_cache
        key = secrets.token_bytes(32)
        with self._write("tombstone_key") as conn:
            stmt = self._upsert(checkpoints).values(
                name=_KEY_NAME, value={"key": key.hex()}, updated_at=utcnow()
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        return self._tombstone_key()  # whoever won the race, everyone uses the stored key

    def _digests(self, kind: str, identifiers: Mapping[str, str]) -> list[str]:
        key = self._tombstone_key()
        return [
            hmac.new(
                key, f"{kind}|{name}|{normalize_identifier(name, value)}".encode(), hashlib.sha256
            ).hexdigest()
            for name, value in sorted(identifiers.items())
            if value and value.strip()
        ]

    def tombstone_add(self, kind: str, identifiers: Mapping[str, str], reason: str) -> int:
        """Remember that the person with these identifiers was erased; returns the digests stored."""
        digests = self._digests(kind, identifiers)
        if not digests:
            return 0
        now = utcnow()
        with self._write("tombstone_add") as conn:
            stmt = self._upsert(tombstones).values(
                [{"digest": d, "kind": kind, "erased_at": now, "reason": reason} for d in digests]
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["digest"]))
        return len(digests)

    def tombstone_find(self, kind: str, identifiers: Mapping[str, str]) -> Tombstone | None:
        """The tombstone matching any of the identifiers, if the person was erased."""
        digests = self._digests(kind, identifiers)
        if not digests:
            return None
        with self._read("tombstone_find") as conn:
            row = conn.execute(
                sa.select(tombstones.c.kind, tombstones.c.erased_at, tombstones.c.reason)
                .where(tombstones.c.digest.in_(digests))
                .limit(1)
            ).first()
        return Tombstone(*row) if row is not None else None

    def tombstoned(self, kind: str, name: str, values: list[str]) -> set[str]:
        """The values (of identifier ``name``) that belong to erased people, in one query."""
        wanted = [v for v in dict.fromkeys(values) if v and v.strip()]
        if not wanted:
            return set()
        key = self._tombstone_key()
        by_digest = {
            hmac.new(
                key, f"{kind}|{name}|{normalize_identifier(name, v)}".encode(), hashlib.sha256
            ).hexdigest(): v
            for v in wanted
        }
        with self._read("tombstoned") as conn:
            found = conn.execute(
                sa.select(tombstones.c.digest).where(tombstones.c.digest.in_(list(by_digest)))
            ).scalars()
            return {by_digest[d] for d in found}

    def purge_person(
        self,
        kind: str,
        source: str,
        record_key: str,
        internal_ids: list[str],
        *,
        mentions: Sequence[str] = (),
    ) -> PurgeCounts:
        """Delete everything the store holds about one person: records with their links and
        delivered projections, inbox events (their payloads carry the person), the resource's
        position, dead letters and sync-log entries of the record — and every sync-log entry whose
        URL or error text mentions one of ``mentions`` (the id in a batched read's ``where``, an
        e-mail in a lookup filter), in plain and URL-encoded form."""
        with self._write("purge_person") as conn:
            # identity links and delivered projections go with their record (ON DELETE CASCADE)
            removed = conn.execute(records.delete().where(records.c.id.in_(internal_ids))).rowcount

            inbox_rows = conn.execute(
                inbox.delete().where(inbox.c.source == source, inbox.c.resource_id == record_key)
            ).rowcount
            conn.execute(
                positions.delete().where(
                    positions.c.source == source,
                    positions.c.kind == kind,
                    positions.c.resource_id == record_key,
                )
            )
            letters = conn.execute(
                dead_letters.delete().where(
                    dead_letters.c.kind == kind, dead_letters.c.record_key == record_key
                )
            ).rowcount
            log_rows = (
                conn.execute(
                    sync_log.delete().where(sync_log.c.kind == kind, sync_log.c.record_key == record_key)
                ).rowcount
                or 0
            )
            for text in _forms(mentions):
                pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                log_rows += (
                    conn.execute(
                        sync_log.delete().where(
                            sa.or_(
                                sync_log.c.url.like(pattern, escape="\\"),
                                sync_log.c.error.like(pattern, escape="\\"),
                            )
                        )
                    ).rowcount
                    or 0
                )
        return PurgeCounts(removed or 0, inbox_rows or 0, letters or 0, log_rows)


def _forms(mentions: Sequence[str]) -> list[str]:
    """Each text as it may appear in a logged URL: plain, percent-encoded, form-encoded, lower-case."""
    out: set[str] = set()
    for text in mentions:
        if not text or len(text) < 4:  # too short to be personal, too likely to hit others
            continue
        for form in (
            text,
            text.lower(),
            quote(text, safe=""),
            quote_plus(text),
            quote(text.lower(), safe=""),
        ):
            out.add(form)
    return sorted(out)
