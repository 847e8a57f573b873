"""Two-way consent: when the CRM owns consent, its changes flow back to the shop.

The CRM is polled for people changed since a cursor (Klaviyo: profiles updated since); each
person's consent becomes the shop's consent flags (commercetools custom fields), written only
where they differ. That difference check is also the echo suppression in both directions: the
shop's change produced by our write comes back as an event whose customer projection (consent
withheld, since the CRM owns it) is unchanged or changes only mirrored properties; the CRM's
profile update caused by that projection comes back here with the same consent, and nothing is
written again. The cursor is stored only after the changes were written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from crmsync.engine.flow import Flow
from crmsync.errors import CrmsyncError
from crmsync.ports import ConsentSource, ConsentWriter

log = logging.getLogger("crmsync.engine.readback")


async def pull_consent(flow: Flow) -> int:
    """One poll of the CRM's consent changes into the shop; returns how many people were written."""
    target, source, fields = flow.target, flow.source, flow.consent_readback
    if not fields or not isinstance(target, ConsentSource) or not isinstance(source, ConsentWriter):
        return 0
    name = f"consent-readback:{flow.name}"
    cursor = (flow.store.get_checkpoint(name) or {}).get("cursor")
    changes, new_cursor = await target.consent_changes(cursor)
    ids = [str(c["external_id"]) for c in changes if c.get("external_id")]
    erased = flow.store.tombstoned(flow.kind, "id", ids)
    written = 0
    for change in changes:
        record_id = change.get("external_id")
        if not record_id or record_id in erased:
            continue  # a person the shop does not know (created in the CRM), or an erased one
        values = {
            fields[channel]: status == "subscribed"
            for channel, status in (change.get("consent") or {}).items()
            if channel in fields
        }
        if values and await source.set_consent_fields(str(record_id), values):
            written += 1
            flow.stats.consent_updates += 1
    flow.store.set_checkpoint(name, {"cursor": new_cursor})
    return written


async def run_readback(flow: Flow, stop: asyncio.Event, *, interval: float) -> None:
    while not stop.is_set():
        try:
            await pull_consent(flow)
        except CrmsyncError as exc:
            log.warning("consent read-back of flow %s failed: %s", flow.name, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
