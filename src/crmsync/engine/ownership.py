"""Per-attribute ownership at run time: provenance and the conflict log on the way out.

The projector leaves out the attributes another system owns (``withheld`` on the projection
result); what the source said about them is recorded here as its provenance, and where it differs
from the owner's value (read back from the CRM, see :mod:`.readback`) the conflict and its decision
— the owner's value stands, the source's is not sent — go to the conflict log; in two-way flows
that write the owner's values back, the source gets the owner's value again. A source value is
logged as a conflict once, when it changes, not on every re-run that sees it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from crmsync.engine.flow import Flow
from crmsync.errors import CrmsyncError
from crmsync.ports import LISTS, FieldWriter, SourceRecord
from crmsync.store import Conflict, Provenance

log = logging.getLogger("crmsync.engine.ownership")
#: keys of a stored projection that are not target attributes (consent goes its own way; lists)
RESERVED = ("consent", LISTS)
KEPT_OWNER = "kept the owner's value; the source's value was not sent"
KEPT_OWNER_WROTE_BACK = "kept the owner's value; the source's value was not sent and was set to the owner's"
RESTORED = "restored the owner's value at the target"


def leaves(payload: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` of every leaf (objects are walked, lists are values)."""
    for key, value in payload.items():
        if not prefix and key in RESERVED:
            continue
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaves(value, f"{path}.")
        else:
            yield path, value


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values (``1 == 1.0``; a missing value equals null and empty)."""
    if a in (None, "", [], {}) and b in (None, "", [], {}):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


async def note_withheld(flow: Flow, items: list[tuple[str, SourceRecord, dict[str, Any]]]) -> int:
    """Record the source's values of attributes it does not own and log those that differ from
    the owner's; where the flow writes the owner's values back (``write_back``), the source gets the
    owner's value again. ``items``: (internal id, source record, withheld values). Returns conflicts
    logged."""
    items = [i for i in items if i[2]]
    if not items:
        return 0
    ids = [internal_id for internal_id, _, _ in items]
    source_system, owner_system = flow.source.system, flow.target.system
    seen = flow.store.provenance_of(ids, source_system)
    owner = flow.store.provenance_of(ids, owner_system)
    entries: list[Provenance] = []
    conflicts: list[Conflict] = []
    write_back = dict(flow.two_way.write_back) if flow.two_way is not None else {}
    fixes: dict[str, dict[str, Any]] = {}  # record key -> shop fields to set to the owner's values
    for internal_id, record, values in items:
        for path, value in values.items():
            before = seen.get(internal_id, {}).get(path)
            if before is not None and same(before.value, value):
                continue  # already recorded (and judged) this value of the source
            entries.append(
                Provenance(
                    internal_id,
                    path,
                    source_system,
                    value,
                    str(record.version) if record.version is not None else None,
                    _aware(record.modified_at),
                )
            )
            held = owner.get(internal_id, {}).get(path)
            if held is not None and not same(held.value, value):
                field = write_back.get(path)
                if field is not None:
                    fixes.setdefault(record.id, {})[field] = held.value
                conflicts.append(
                    Conflict(
                        internal_id=internal_id,
                        kind=flow.kind,
                        record_key=record.id,
                        path=path,
                        owner=owner_system,
                        owner_value=held.value,
                        other=source_system,
                        other_value=value,
                        decision=KEPT_OWNER_WROTE_BACK if path in write_back else KEPT_OWNER,
                        correlation_id=record.correlation_id,
                    )
                )
    flow.store.provenance_put(entries)
    flow.store.conflict_add(conflicts)
    flow.stats.conflicts += len(conflicts)
    if fixes and isinstance(flow.source, FieldWriter):
        for key, fields in fixes.items():
            try:
                if await flow.source.set_custom_fields(key, fields):
                    flow.stats.written_back += 1
            except CrmsyncError as exc:  # the delivery goes on; the next change or poll tries again
                log.warning(
                    "writing the owner's values back to %s %s failed: %s", flow.kind, key, exc.message
                )
    return len(conflicts)


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is not None and moment.tzinfo is not None else None
