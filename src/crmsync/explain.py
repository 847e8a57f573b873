"""``crmsync explain customer ID``: everything crmsync knows about one record and why.

The identity links (every id of the record in every system), how the target record was matched
(read from the first write the sync log holds for it: ``201`` created by crmsync, ``200`` an
existing profile matched by its identifiers, ``409 duplicate_profile`` then ``PATCH`` an existing
profile linked), the last projection delivered to each target, the inbox events, dead letters and
requests (the history), and whether the person was erased (tombstone).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from crmsync.store import LogEntry

if TYPE_CHECKING:
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


def explain(service: Service, kind: str, record_key: str) -> dict[str, Any]:
    from crmsync.service import entity_kind

    kind = entity_kind(kind)
    store = service.store
    flows = [f for (_, k), f in service.flows.items() if k == kind]
    if not flows:
        raise ValueError(f"no flow syncs {kind} records")
    source = flows[0].source
    erased = store.tombstone_find(kind, {"id": record_key})
    internal = store.resolve(kind, source.system, "id", record_key)
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
        }
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
