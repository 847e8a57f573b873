"""Consent delivery: the channels whose canonical consent changed since the last delivery become
subscribe / unsubscribe requests at a :class:`~crmsync.ports.ConsentTarget` (Klaviyo subscriptions)."""

from __future__ import annotations

import copy
import dataclasses
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crmsync.engine.flow import Flow
from crmsync.errors import RETRYABLE, CrmsyncError
from crmsync.mapping import projection_hash
from crmsync.ports import ConsentTarget, ConsentUpdate
from crmsync.store import Conflict, DeliveredWrite

if TYPE_CHECKING:
    from crmsync.engine.delivery import BatchOutcome, _Pending

log = logging.getLogger("crmsync.engine.delivery")
CONSENT = "consent"  # the canonical consent in a projection: stored and hashed, never sent as attributes


async def deliver_consent(
    flow: Flow,
    items: list[_Pending],
    writes: list[DeliveredWrite],
    outcome: BatchOutcome,
    *,
    historical: bool,
) -> list[DeliveredWrite]:
    """Send the consent channels that changed since the last delivery (subscribe / unsubscribe).

    A channel the target did not take keeps its previous state in the store, so the next sync or
    change sends it again (transient failures also put the record on the retry path).
    """
    updates: list[ConsentUpdate] = []
    owners: list[tuple[_Pending, str, dict[str, Any]]] = []
    for item in items:
        new = item.stored.get(CONSENT) or {}
        old = (item.previous or {}).get(CONSENT) or {}
        for channel, state in new.items():
            before = (old.get(channel) or {}).get("status")
            if before == state.get("status") and not _renewed(state, old.get(channel) or {}):
                continue
            if before is None and state.get("status") != "subscribed":
                continue  # "not opted in" is not a withdrawal: never-subscribed stays untouched
            at = parse_time(state.get("at"))
            updates.append(
                ConsentUpdate(
                    record_key=item.record.id,
                    identifiers=item.projection.identifiers,
                    channel=channel,
                    subscribed=state.get("status") == "subscribed",
                    at=at,
                    list_name=state.get("list"),
                    correlation_id=item.record.correlation_id,
                )
            )
            owners.append((item, channel, old.get(channel) or {}))
    if not updates or not isinstance(flow.target, ConsentTarget):
        return writes
    results = await flow.target.set_consent(updates, historical=historical)
    reverted: dict[str, dict[str, Any]] = {}
    kept: list[Conflict] = []
    for (item, channel, old_state), result in zip(owners, results, strict=True):
        if result.ok and result.note:  # the target kept a newer "no" (a suppression): logged
            state = (item.stored.get(CONSENT) or {}).get(channel) or {}
            kept.append(
                Conflict(
                    internal_id=item.internal_id,
                    kind=flow.kind,
                    record_key=item.record.id,
                    path=f"{CONSENT}.{channel}",
                    owner=flow.target.system,
                    owner_value=None,
                    other=flow.source.system,
                    other_value={"status": state.get("status"), "at": state.get("at")},
                    decision=result.note,
                    correlation_id=item.record.correlation_id,
                )
            )
            continue
        if result.ok:
            flow.stats.consent_updates += 1
            continue
        stored = reverted.setdefault(item.internal_id, copy.deepcopy(item.stored))
        if old_state:
            stored[CONSENT][channel] = old_state
        else:
            stored[CONSENT].pop(channel, None)
        error = result.error or CrmsyncError("consent not delivered", record_key=item.record.id)
        log.warning("consent %s of %s not delivered: %s", channel, item.record.id, error.message)
        if error.recovery in RETRYABLE:
            outcome.retry.setdefault(item.record.id, error)
    if kept:
        flow.store.conflict_add(kept)
        flow.stats.conflicts += len(kept)
    if not reverted:
        return writes
    return [
        dataclasses.replace(w, payload=reverted[w.internal_id], hash=projection_hash(reverted[w.internal_id]))
        if w.internal_id in reverted
        else w
        for w in writes
    ]


def _renewed(state: dict[str, Any], old: dict[str, Any]) -> bool:
    """A subscription given again, later than the one delivered (a re-opt-in): sent once more, so
    that it can lift a "no" given at the target in between."""
    if state.get("status") != "subscribed":
        return False
    now, then = parse_time(state.get("at")), parse_time(old.get("at"))
    return now is not None and (then is None or now > then)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
