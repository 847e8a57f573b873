"""``crmsync explain customer ID``: everything crmsync knows about one record and why.

The identity links (every id of the record in every system), how the target record was matched
(read from the first write the sync log holds for it: ``201`` created by crmsync, ``200`` an
existing profile matched by its identifiers, ``409 duplicate_profile`` then ``PATCH`` an existing
profile linked), the last projection delivered to each target, the inbox events, dead letters and
requests (the history), whether the person was erased (tombstone), the field-level provenance of
each attribute (owner, and what each system last said, with version or time) and the ownership
conflicts with their decisions.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from crmsync.engine.ownership import leaves
from crmsync.store import Delivered, LogEntry

if TYPE_CHECKING:
    from crmsync.engine.flow import Flow
    from crmsync.service import Service

HISTORY = 50


def match_rule(entries: list[LogEntry], delivered: bool) -> str:
    """How the target record came to be linked, from the record's first writes in the sync log."""
    writes = [e for e in entries if e.method in ("POST", "PATCH", "PUT") and e.status is not None]
    if not writes and delivered:  # bulk job requests are logged per job, not per record
        return "delivered in a bulk import job (the target matches by external_id, email, phone)"
    for entry in writes:
        if entry.status == 409:
            return "an existing target record held one of its identifiers (409 duplicate): linked to it"
        if entry.status == 201:
            return "created by crmsync (no target record held its identifiers)"
        if entry.status in (200, 202):
            if entry.operation and "bulk" in entry.operation:
                return "delivered in a bulk import job (the target matches by external_id, email, phone)"
            return "matched an existing target record by its identifiers (external_id, email, phone): linked"
    return "not delivered yet" if not writes else "unknown (no successful write in the sync log)"


def attributes(
    service: Service, flow: Flow, internal_id: str, delivered: Delivered | None
) -> list[dict[str, Any]]:
    """Field-level provenance: per attribute (target payload path), its owner and what each system
    last said — the source's delivered value (with the source version) and the values read back
    from the target (with the target's time)."""
    owned = set(flow.two_way.crm_paths) if flow.two_way else set()
    owned |= set(getattr(flow.projector, "withheld", ()))
    rows: dict[str, dict[str, Any]] = {}
    if delivered is not None:
        for path, value in leaves(delivered.payload):
            said = {"value": value, "version": delivered.source_version, "at": delivered.delivered_at}
            rows[path] = {"path": path, "values": {flow.source.system: said}}
    for entry in service.store.provenance_of([internal_id]).get(internal_id, {}).values():
        row = rows.setdefault(entry.path, {"path": entry.path, "values": {}})
        if entry.system == flow.source.system and entry.system in row["values"]:
            continue  # the delivered projection is the source's word on what it owns
        row["values"][entry.system] = {
            "value": entry.value,
            "version": entry.source_version,
            "at": entry.source_at or entry.recorded_at,
        }
    for path, row in rows.items():
        row["owner"] = flow.target.system if path in owned else flow.source.system
    return [rows[p] for p in sorted(rows)]


def explain(service: Service, kind: str, record_key: str) -> dict[str, Any]:
    from crmsync.service import entity_kind

    kind = entity_kind(kind)
    store = service.store
    flows = [f for (_, k), f in service.flows.items() if k == kind]
    if not flows:
        raise ValueError(f"no flow syncs {kind} records")
    source = flows[0].source
    internal = store.resolve(kind, source.system, "id", record_key)
    if internal is None:  # another id of the record in the source (customerNumber, key)
        for id_kind in (getattr(source, "identity_fields", None) or {}).get(kind, {}):
            internal = store.resolve(kind, source.system, id_kind, record_key)
            if internal is not None:
                record_key = next(
                    (
                        x.value
                        for x in store.links(internal)
                        if x.system == source.system and x.id_kind == "id"
                    ),
                    record_key,
                )
                break
    erased = store.tombstone_find(kind, {"id": record_key})
    service.synclog.flush()
    log = store.log_query(kind=kind, record_key=record_key, limit=HISTORY, latest=True)
    out: dict[str, Any] = {
        "kind": kind,
        "record": record_key,
        "internal_id": internal,
        "erased": asdict(erased) if erased is not None else None,
        "links": [asdict(link) for link in store.links(internal)] if internal else [],
        "targets": {},
        "inbox": [],
        "dead_letters": [asdict(d) for d in store.dlq_list(None, record_key=record_key, limit=HISTORY)],
        "requests": [asdict(e) for e in log],
    }
    for flow in flows:
        delivered = store.get_delivered(flow.target_key, [internal]).get(internal) if internal else None
        out["targets"][flow.target_key] = {
            "flow": flow.name,
            "match": match_rule([e for e in log if e.connection == flow.target.name], delivered is not None),
            "last_delivered": asdict(delivered) if delivered is not None else None,
            "attributes": attributes(service, flow, internal, delivered) if internal else [],
        }
    out["conflicts"] = [
        asdict(c) for c in store.conflicts_list(kind=kind, record_key=record_key, limit=HISTORY)
    ]
    out["inbox"] = [
        {
            "event": r.event_type,
            "status": r.status,
            "at": r.occurred_at,
            "attempts": r.attempts,
            "error": r.error,
        }
        for r in store.inbox_for(source.name, record_key, limit=HISTORY)
    ]
    return out
