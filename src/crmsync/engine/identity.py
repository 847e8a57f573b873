"""The identity graph at delivery time: every id of a record in every system, and lookups first.

* :func:`link_existing` — before a record's first write, look it up at the target by its
  identifiers in the flow's priority order (stable id, then e-mail, then phone, then national id:
  ``match_order``) and link the match, so the write updates that record instead of creating a second.
* :func:`link_source_ids` — the source's other ids of a delivered record (commercetools ``key`` and
  ``customerNumber``, as the source connector names them in ``identity_fields``) are linked too, so
  ``crmsync explain`` shows them and finds the record by any of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from crmsync.engine.flow import Flow
from crmsync.mapping.segments import read_path
from crmsync.ports import Projection, SourceRecord


async def link_existing(flow: Flow, internal_id: str, projection: Projection) -> None:
    identifiers = {k: projection.identifiers[k] for k in flow.match_order if projection.identifiers.get(k)}
    if not identifiers:
        return
    found = await flow.target.find(flow.projection_kind, identifiers)
    if found:
        flow.store.link_many(flow.kind, flow.target.system, "id", {internal_id: found})


def link_source_ids(flow: Flow, delivered: list[tuple[str, SourceRecord]]) -> None:
    """Link the source's secondary ids of delivered records (first come keeps a value: an id is
    never silently moved to another record)."""
    fields: Mapping[str, str] = (getattr(flow.source, "identity_fields", None) or {}).get(flow.kind, {})
    if not fields or not delivered:
        return
    by_kind: dict[str, dict[str, str]] = {}
    for id_kind, path in fields.items():
        for internal_id, record in delivered:
            value = read_path(record.data, path)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                by_kind.setdefault(id_kind, {})[internal_id] = str(value)
    flow.store.add_links(flow.kind, flow.source.system, by_kind)
