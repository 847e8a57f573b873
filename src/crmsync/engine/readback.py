"""Two-way flows: what changes in the CRM comes back, and ownership decides what it may change.

The CRM is polled for people changed since a cursor (Klaviyo: profiles updated since). For each
person the shop knows:

* **consent**, when the CRM owns it, becomes the shop's consent flags and their times (commercetools
  custom fields);
* **attributes the CRM owns** (``ownership.crm``) are recorded with their provenance (value, system,
  time) and, where ``ownership.write_back`` names a shop field, written to the shop;
* **attributes the shop owns** that the CRM now holds differently — an edit made in the CRM — are a
  conflict: logged with its decision, and the shop's value is restored by re-sending the record
  (``ownership.restore``) through the durable inbox (an event the live sync processes like any
  other: retries, dead letters, crash-safe). After a restore the CRM is taken to hold the shop's
  value, so the same edit made again is judged again; a value that comes back after three
  restores in a row (a target that normalises it) is logged once as such and left alone.

Echo suppression, both ways: writes to the shop happen only where its fields differ (``False`` from
:meth:`~crmsync.ports.FieldWriter.set_custom_fields`), and the shop's change event they cause
projects to the same payload (CRM-owned paths are withheld), so nothing is sent again; our own
deliveries coming back from the CRM hold the delivered values, which is no conflict. A profile last
updated before our last delivery to it (with a second's margin: ``updated`` has whole seconds) is
not compared at all: that delivery asserted the shop's values after it. The cursor is stored only
after the changes were acted on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crmsync.engine.consent import parse_time
from crmsync.engine.flow import Flow
from crmsync.engine.live import ingest_events
from crmsync.engine.ownership import RESTORED, leaves, same
from crmsync.errors import RETRYABLE, CrmsyncError
from crmsync.ports import ChangeEvent, FieldWriter, ProfileChangeSource
from crmsync.store import Conflict, Delivered, Provenance

log = logging.getLogger("crmsync.engine.readback")
_MARGIN = timedelta(seconds=1)
RESTORE_EVENT = "TargetEditReverted"  # the inbox event that re-sends a record the CRM changed
WRITE_BACK_CONCURRENCY = 8  # shop writes in flight during one poll
GIVE_UP_AFTER = 3  # restores of one value in a row that did not stick (the target normalises it?)
GAVE_UP = "not restored: the target kept its own value after 3 restores (does it normalise it?)"


@dataclass
class PullResult:
    changes: int = 0  # people reported changed
    written: int = 0  # shop records written (consent flags, CRM-owned values)
    recorded: int = 0  # provenance entries recorded
    conflicts: int = 0
    restored: int = 0  # records queued to be re-sent (restoring the shop's values)
    failed: int = 0  # write-backs the shop refused for good (logged)


def checkpoint_name(flow: Flow) -> str:
    return f"consent-readback:{flow.name}"  # the name predates attribute read-back; kept for resuming


async def pull_changes(flow: Flow) -> PullResult:
    """One poll of the CRM's changes (see the module docstring)."""
    rules, target, source, store = flow.two_way, flow.target, flow.source, flow.store
    result = PullResult()
    if rules is None or not rules.active or not isinstance(target, ProfileChangeSource):
        return result
    cursor = (store.get_checkpoint(checkpoint_name(flow)) or {}).get("cursor")
    changes, new_cursor = await target.profile_changes(cursor)
    result.changes = len(changes)
    keys = [str(c["external_id"]) for c in changes if c.get("external_id")]
    erased = store.tombstoned(flow.kind, "id", keys)
    known = store.resolve_many(flow.kind, source.system, "id", [k for k in keys if k not in erased])
    delivered = store.get_delivered(flow.target_key, list(known.values()))
    seen = store.provenance_of(list(known.values()), target.system)
    entries: list[Provenance] = []
    suspects: dict[str, dict[str, Any]] = {}  # record key -> {path: CRM value} of shop-owned paths
    writes: dict[str, dict[str, Any]] = {}
    for change in changes:
        key = str(change.get("external_id") or "")
        internal_id = known.get(key)
        if internal_id is None:
            continue  # a person the shop does not know (created in the CRM), or an erased one
        attrs = dict(leaves(change.get("attributes") or {}))
        updated = change.get("updated") if isinstance(change.get("updated"), datetime) else None
        before = seen.get(internal_id, {})
        fields: dict[str, Any] = {}
        for path in rules.crm_paths:
            value = attrs.get(path)
            old = before.get(path)
            if old is None or not same(old.value, value):
                entries.append(Provenance(internal_id, path, target.system, value, None, updated))
            if path in rules.write_back and (
                value is not None or (old is not None and old.value is not None)
            ):
                fields[rules.write_back[path]] = value  # a value, or one the CRM cleared (never "unknown")
        for channel, status in (change.get("consent") or {}).items():
            if channel in rules.consent_fields:
                fields[rules.consent_fields[channel]] = status == "subscribed"
                at = _shop_time((change.get("consent_at") or {}).get(channel))
                if at is not None and channel in rules.consent_at_fields:
                    fields[rules.consent_at_fields[channel]] = at  # when it was given or withdrawn
        if fields:
            writes[key] = fields
        last = delivered.get(internal_id)
        if rules.restore and last is not None and not _predates(updated, last):
            differing: dict[str, Any] = {}
            for path, value in leaves(last.payload):
                if path in rules.crm_paths:
                    continue
                crm_value, old = attrs.get(path), before.get(path)
                if same(crm_value, value):
                    if old is not None and not same(old.value, crm_value):  # agrees again
                        entries.append(Provenance(internal_id, path, target.system, crm_value, None, updated))
                elif old is None or not same(old.value, crm_value):  # a CRM value not judged before
                    differing[path] = crm_value
            if differing:
                suspects[key] = differing
    # what the CRM said is on record before anything acts on it: the shop's events caused by the
    # write-back, and the restoring deliveries, are judged against it
    store.provenance_put(entries)
    result.recorded = len(entries)
    if writes and isinstance(source, FieldWriter):
        await _write_back(flow, source, writes, result)
    if suspects:
        judged: list[Provenance] = []
        restore = await _judge(flow, suspects, known, judged, result)
        store.provenance_put(judged)
        result.recorded += len(judged)
        if restore:
            result.restored = _queue_restores(flow, restore, known)
    store.set_checkpoint(checkpoint_name(flow), {"cursor": new_cursor})
    flow.stats.written_back += result.written
    flow.stats.conflicts += result.conflicts
    flow.stats.restored += result.restored
    return result


async def _write_back(
    flow: Flow, shop: FieldWriter, writes: dict[str, dict[str, Any]], result: PullResult
) -> None:
    """Write the CRM's values to the shop, a few records at a time. A record the shop refuses for
    good is logged and skipped; a transient failure fails the poll (its cursor stays, so the
    whole poll is tried again: writes are idempotent)."""
    gate = asyncio.Semaphore(WRITE_BACK_CONCURRENCY)

    transient: list[CrmsyncError] = []

    async def one(key: str, fields: dict[str, Any]) -> None:
        async with gate:
            try:
                if await shop.set_custom_fields(key, fields):
                    result.written += 1
            except CrmsyncError as exc:
                if exc.recovery in RETRYABLE:
                    transient.append(exc)
                    return
                result.failed += 1
                log.warning("write-back of %s %s refused: %s", flow.kind, key, exc.message)

    await asyncio.gather(*(one(key, fields) for key, fields in writes.items()))
    if transient:
        raise transient[0]


def _queue_restores(flow: Flow, keys: set[str], known: Mapping[str, str]) -> int:
    """Re-send the shop's record through the durable inbox: its delivered state no longer matches
    what the target holds, and an event makes the live sync re-read and deliver it — with the
    usual retries, backoff and dead letters, and surviving a crash."""
    flow.store.delivered_invalidate(flow.target_key, [known[k] for k in keys])
    now = datetime.now(UTC)
    events = [
        ChangeEvent(
            event_id=f"restore:{key}:{uuid.uuid4().hex}",
            kind=flow.kind,
            resource_id=key,
            event_type=RESTORE_EVENT,
            occurred_at=now,
        )
        for key in sorted(keys)
    ]
    return ingest_events(flow, events)


def _shop_time(value: object) -> str | None:
    """A CRM timestamp as commercetools writes DateTime values (``2024-05-01T12:00:00.000Z``)."""
    moment = value if isinstance(value, datetime) else parse_time(value)
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _predates(updated: datetime | None, last: Delivered) -> bool:
    """The CRM's state is older than our last delivery: that delivery asserted the shop's values."""
    return updated is not None and updated + _MARGIN <= last.delivered_at


async def _judge(
    flow: Flow,
    suspects: dict[str, dict[str, Any]],
    known: Mapping[str, str],
    entries: list[Provenance],
    result: PullResult,
) -> set[str]:
    """Conflicts among ``suspects``, judged against the delivered state read again now (a delivery
    that finished while the CRM was being polled is not a conflict). Returns the keys to restore."""
    store, target, source = flow.store, flow.target, flow.source
    fresh = store.get_delivered(flow.target_key, [known[k] for k in suspects])
    conflicts: list[Conflict] = []
    restore: set[str] = set()
    for key, paths in suspects.items():
        internal_id = known[key]
        last = fresh.get(internal_id)
        if last is None:
            continue
        shop = dict(leaves(last.payload))
        history: list[Conflict] | None = None
        for path, value in paths.items():
            if same(shop.get(path), value):
                continue  # the delivery in flight carried this value: our own write
            if history is None:
                history = store.conflicts_list(kind=flow.kind, record_key=key, limit=50)
            recent = [c for c in history if c.path == path][:GIVE_UP_AFTER]
            stuck = len(recent) == GIVE_UP_AFTER and all(
                c.decision == RESTORED and same(c.other_value, value) for c in recent
            )
            # restored: the target holds the owner's value again (a new edit, even to the same value
            # as before, is judged anew); stuck: it keeps its own form of it, stop fighting over it
            entries.append(Provenance(internal_id, path, target.system, value if stuck else shop.get(path)))
            conflicts.append(
                Conflict(
                    internal_id=internal_id,
                    kind=flow.kind,
                    record_key=key,
                    path=path,
                    owner=source.system,
                    owner_value=shop.get(path),
                    other=target.system,
                    other_value=value,
                    decision=GAVE_UP if stuck else RESTORED,
                )
            )
            if not stuck:
                restore.add(key)
    store.conflict_add(conflicts)
    result.conflicts += len(conflicts)
    return restore


async def run_readback(flow: Flow, stop: asyncio.Event, *, interval: float) -> None:
    """The read-back loop of ``crmsync run``: one poller per flow at a time (a lease, as for the
    source feed — any worker may be it); polls again at once while the CRM reports changes (a
    backlog after a bulk load drains at the API's pace, not one page per interval), then waits."""
    name = checkpoint_name(flow)
    while not stop.is_set():
        busy = False
        try:
            if flow.store.lease_acquire([name], flow.worker_id, flow.lease_ttl):
                busy = (await pull_changes(flow)).changes > 0
        except CrmsyncError as exc:
            log.warning("read-back of flow %s failed: %s", flow.name, exc)
        if busy:
            await asyncio.sleep(0)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
