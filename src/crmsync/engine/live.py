"""Live sync: change events → durable inbox → per-resource ordered processing → delta delivery.

Promise 1 shape: an event is acknowledged to its source (feed cursor advanced, HTTP 2xx) only
after ``ingest_events`` stored it. Promise 3: per resource, events are applied in ``sequence``
order and an event at or below the resource's applied position is stale. Rather than replaying
field-level messages, the engine projects the resource's current state (embedded in the event when
it is the newest one, else re-read in one batched call) — so out-of-order and duplicated
deliveries converge on the same target state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crmsync.engine.delivery import dead_letter, deliver_records
from crmsync.engine.erasure import erase_person
from crmsync.engine.flow import Flow
from crmsync.engine.policy import Action
from crmsync.engine.stats import Failure
from crmsync.errors import CrmsyncError, Recovery, TransientError
from crmsync.ports import ChangeEvent, DeletingTarget, Projection, SourceRecord
from crmsync.store import DeadLetterIn, InboxEventIn, InboxRow

log = logging.getLogger("crmsync.engine.live")

LAG_ATTEMPTS = 3


def _order(row: InboxRow) -> int | None:
    """The resource version an event left the resource at — the one order that messages (their
    ``resourceVersion``) and change notifications (their ``version``) share. ``sequenceNumber``
    counts messages only, and updates without a message (e.g. a locale change) move the version
    but not the sequence, so the two must never be compared."""
    version = row.payload.get("resource_version")
    return version if isinstance(version, int) and not isinstance(version, bool) else row.sequence


def _lags(plan: _Plan, record: SourceRecord) -> bool:
    return plan.min_version is not None and record.version is not None and record.version < plan.min_version


def to_inbox(event: ChangeEvent) -> InboxEventIn:
    return InboxEventIn(
        event_id=event.event_id,
        kind=event.kind,
        resource_id=event.resource_id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        sequence=event.sequence,
        payload={
            "record": event.record,
            "deleted": event.deleted,
            "data_erasure": event.data_erasure,
            "resource_version": event.resource_version,
        },
        correlation_id=event.correlation_id,
    )


def ingest_events(flow: Flow, events: list[ChangeEvent]) -> int:
    """Store events durably (deduplicated by event id); return how many were new. Events of erased
    people (tombstoned source ids) are refused here: never stored, never delivered."""
    relevant = [e for e in events if e.kind == flow.kind]
    if not relevant:
        return 0
    erased = flow.store.tombstoned(flow.kind, "id", [e.resource_id for e in relevant])
    if erased:
        log.info(
            "refused %d event(s) of erased %s records",
            sum(e.resource_id in erased for e in relevant),
            flow.kind,
        )
        flow.stats.refused += sum(e.resource_id in erased for e in relevant)
        relevant = [e for e in relevant if e.resource_id not in erased]
        if not relevant:
            return 0
    new = flow.store.inbox_add(flow.source_key, [to_inbox(e) for e in relevant])
    flow.stats.events_received += new
    return new


async def poll_once(flow: Flow) -> int:
    """Poll the source's change feed once; store events, then advance the cursor."""
    if not flow.source.capabilities.change_feed:
        return 0
    name = flow.feed_checkpoint
    # One poller per feed at a time (any worker may be it): the others would only re-read the
    # same pages. The lease outlives a poll; a dead poller's lease expires and another takes over.
    if not flow.store.lease_acquire([name], flow.worker_id, flow.lease_ttl):
        return 0
    cursor = flow.store.get_checkpoint(name)
    events, new_cursor = await flow.source.poll_changes([flow.kind], cursor)
    new = ingest_events(flow, events)
    flow.store.set_checkpoint(name, new_cursor)  # only after the events are stored
    return new


@dataclass
class _Plan:
    rows: list[InboxRow]
    deleted: bool
    record: dict[str, object] | None  # embedded newest state, when usable
    min_version: int | None  # the resource version the events require
    top_sequence: int | None
    received_at: datetime


async def process_inbox(flow: Flow, *, limit: int = 500) -> int:
    """Claim due events of up to ``limit`` resources (leases: no other worker touches them until
    released or expired), process them, release; return how many events were settled."""
    rows, leased = flow.store.inbox_claim(
        flow.source_key, flow.kind, flow.worker_id, flow.lease_ttl, max_resources=limit
    )
    if not rows:
        return 0
    heartbeat = asyncio.create_task(_heartbeat(flow, leased))
    try:
        return await _process(flow, rows)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        flow.store.lease_release(leased, flow.worker_id)


async def _heartbeat(flow: Flow, names: list[str]) -> None:
    """Renew the claim's leases every third of their time to live while the work goes on.

    Delivering a claim can take longer than one lease (rate budget, retries, a slow target); an
    expired lease would let another worker take the same records and send an older state after a
    newer one. A worker that dies stops renewing, and its leases expire as before.
    """
    interval = max(0.05, flow.lease_ttl.total_seconds() / 3)
    while True:
        await asyncio.sleep(interval)
        try:
            kept = flow.store.lease_acquire(names, flow.worker_id, flow.lease_ttl)
        except Exception:  # a store hiccup: try again at the next beat, the lease still runs
            log.warning("renewing %d leases of flow %s failed", len(names), flow.name, exc_info=True)
            continue
        if len(kept) < len(names):
            log.error(
                "flow %s: %d leases were taken over by another worker (this one stalled longer than "
                "a lease); they may be processed twice",
                flow.name,
                len(names) - len(kept),
            )


async def _process(flow: Flow, rows: list[InboxRow]) -> int:
    store = flow.store
    by_resource: dict[str, list[InboxRow]] = defaultdict(list)
    for row in rows:
        by_resource[row.resource_id].append(row)
    positions = store.get_positions(flow.source_key, flow.kind, list(by_resource))

    stale_ids: list[int] = []
    plans: dict[str, _Plan] = {}
    for rid, items in by_resource.items():
        pos = positions.get(rid)
        fresh = [r for r in items if _order(r) is None or pos is None or (_order(r) or 0) > pos]
        stale_ids.extend(r.id for r in items if r not in fresh)
        if not fresh:
            continue
        fresh.sort(key=lambda r: (_order(r) is None, _order(r) or 0, r.id))
        newest = fresh[-1]
        versions = [v for v in (_order(r) for r in fresh) if v is not None]
        embedded = newest.payload.get("record")
        plans[rid] = _Plan(
            rows=fresh,
            deleted=any(bool(r.payload.get("deleted")) for r in fresh),
            record=embedded if isinstance(embedded, dict) else None,
            min_version=max(versions) if versions else None,
            top_sequence=max(versions) if versions else None,
            received_at=min(r.received_at for r in fresh),
        )
    if stale_ids:
        store.inbox_mark(stale_ids, "stale")
        flow.stats.stale += len(stale_ids)

    deleted = {rid: p for rid, p in plans.items() if p.deleted}
    to_fetch = [rid for rid, p in plans.items() if not p.deleted and p.record is None]
    records: dict[str, SourceRecord] = {}
    for rid, p in plans.items():
        if not p.deleted and p.record is not None:
            version = p.record.get("version")
            records[rid] = SourceRecord(
                kind=flow.kind,
                id=rid,
                version=version if isinstance(version, int) else None,
                data=p.record,
                correlation_id=p.rows[-1].correlation_id,
            )
    if to_fetch:
        try:
            fetched = await flow.source.read_by_ids(flow.kind, to_fetch)
        except CrmsyncError as exc:
            if exc.recovery is Recovery.FATAL:
                raise
            log.warning("re-reading %d %s records failed: %s", len(to_fetch), flow.kind, exc)
            retry_later(flow, {rid: (exc, plans[rid].rows) for rid in to_fetch})
            to_fetch = []
            fetched = []
        for rec in fetched:
            rec.correlation_id = plans[rec.id].rows[-1].correlation_id
            records[rec.id] = rec
        for rid in to_fetch:
            if rid not in records:  # gone at the source since the event: it was deleted
                deleted[rid] = plans[rid]

    # A re-read older than the events claim (eventual consistency) waits for the next round — a few
    # times; after that the source's current state is the truth (the event's version was wrong).
    for rid in [rid for rid, rec in records.items() if _lags(plans[rid], rec)]:
        rows = plans[rid].rows
        if max(r.attempts for r in rows) + 1 < LAG_ATTEMPTS:
            records.pop(rid)
            store.inbox_mark(
                [r.id for r in rows], "pending", f"source not yet at version {plans[rid].min_version}"
            )

    settled = 0
    if deleted and flow.deletes:
        failures = await _delete_at_target(flow, list(deleted))
        retry_later(flow, {rid: (err, deleted.pop(rid).rows) for rid, err in failures.items()})
    erase = [rid for rid, p in deleted.items() if any(r.payload.get("data_erasure") for r in p.rows)]
    for rid in erase:  # a deletion with data erasure: the person leaves every target and the store
        try:
            await erase_person(
                [flow],
                kind=flow.kind,
                record_key=rid,
                reason="source deletion with data erasure",
                correlation_id=deleted[rid].rows[-1].correlation_id,
            )
        except CrmsyncError as exc:
            if exc.recovery is Recovery.FATAL:
                raise
            retry_later(flow, {rid: (TransientError(exc.message), deleted.pop(rid).rows)})
            continue
        flow.stats.deleted += 1
        settled += len(deleted.pop(rid).rows)  # purge_person removed the events themselves
    if deleted:
        # Catalog records are deleted at the target above; people reach targets through the
        # erasure flow; here the record's work is settled.
        ids = [r.id for p in deleted.values() for r in p.rows]
        store.inbox_mark(ids, "done")
        flow.stats.deleted += len(deleted)
        store.advance_positions(
            flow.source_key,
            flow.kind,
            {rid: p.top_sequence for rid, p in deleted.items() if p.top_sequence is not None},
        )
        settled += len(ids)

    if records and flow.related is not None:
        await _deliver_related(flow, [rid for rid in records if rid not in deleted], set(plans))

    if records:
        origin = {rid: plans[rid].received_at for rid in records}
        tries = {rid: max(r.attempts for r in plans[rid].rows) + 1 for rid in records}
        outcome = await deliver_records(flow, list(records.values()), origin_times=origin, attempts=tries)
        done_rows: list[int] = []
        advance: dict[str, int] = {}
        if outcome.refused:  # erased people: their events are dropped, not kept as "done"
            settled += sum(len(plans[rid].rows) for rid in outcome.refused)
            store.inbox_delete(flow.source_key, outcome.refused)
        for rid in outcome.delivered + outcome.unchanged + outcome.stale:
            done_rows.extend(r.id for r in plans[rid].rows)
            # The delivered state covers every event up to its own version. An event that claimed a
            # version the source never reached (accepted after LAG_ATTEMPTS) must not push the
            # position past the real one, or genuine later events would look stale.
            current = records[rid].version
            top = plans[rid].top_sequence
            candidates = [
                v for v in (current, None if _lags(plans[rid], records[rid]) else top) if v is not None
            ]
            if candidates:
                advance[rid] = max(candidates)
        store.advance_positions(flow.source_key, flow.kind, advance)
        store.inbox_mark(done_rows, "done")
        settled += len(done_rows)
        for rid, err in outcome.failed.items():
            store.inbox_mark([r.id for r in plans[rid].rows], "failed", str(err))
            settled += len(plans[rid].rows)
        retry_later(flow, {rid: (err, plans[rid].rows) for rid, err in outcome.retry.items()})
    flow.stats.events_processed += settled
    return settled


async def _delete_at_target(flow: Flow, record_ids: list[str]) -> dict[str, CrmsyncError]:
    """Delete records at the target (already gone counts as done) and forget what was delivered;
    returns the failures, which follow the retry policy like deliveries."""
    target = flow.target
    if not isinstance(target, DeletingTarget):
        raise CrmsyncError(f"target {target.name} cannot delete {flow.kind} records", entity=flow.kind)
    results = await asyncio.gather(
        *(
            target.delete(Projection(kind=flow.projection_kind, record_key=rid, payload={}))
            for rid in record_ids
        )
    )
    failures: dict[str, CrmsyncError] = {}
    done: list[str] = []
    for rid, result in zip(record_ids, results, strict=True):
        if result.ok:
            done.append(rid)
            continue
        error = result.error or CrmsyncError("the target did not delete the record", record_key=rid)
        if error.recovery is Recovery.FATAL:
            raise error
        failures[rid] = error
    if done:
        ids = flow.store.ensure_records(flow.kind, flow.source.system, "id", done)
        flow.store.forget(list(ids.values()))
    return failures


async def _deliver_related(flow: Flow, record_ids: list[str], handled: set[str]) -> None:
    """Re-deliver the records whose projection embeds these ones' (a renamed category's
    descendants carry its name): only those whose projection really changed cost a call."""
    assert flow.related is not None
    related = [r for r in dict.fromkeys(await flow.related(record_ids)) if r not in handled]
    if not related:
        return
    records = await flow.source.read_by_ids(flow.kind, related)
    outcome = await deliver_records(flow, records)
    if outcome.retry:
        log.warning(
            "flow %s: %d related %s record(s) failed transiently; the next full sync delivers them",
            flow.name,
            len(outcome.retry),
            flow.kind,
        )


def retry_later(flow: Flow, failures: dict[str, tuple[CrmsyncError, list[InboxRow]]]) -> None:
    """Apply the retry policy to failed resources: back off in the inbox, or dead-letter them."""
    now = datetime.now(UTC)
    letters: list[DeadLetterIn] = []
    for rid, (error, rows) in failures.items():
        attempts = max(r.attempts for r in rows) + 1
        age = now - min(r.received_at for r in rows)
        decision = flow.policy.decide(error, attempts, age)
        ids = [r.id for r in rows]
        if decision.action is Action.STOP:
            raise error
        if decision.action is Action.RETRY:
            flow.store.inbox_mark(
                ids, "pending", str(error), not_before=now + timedelta(seconds=decision.delay)
            )
            continue
        letters.append(
            dead_letter(flow, rid, error, None, rows[-1].correlation_id, attempts, decision.reason)
        )
        flow.store.inbox_mark(ids, "failed", decision.reason)
        flow.stats.add_failure(
            Failure(rid, decision.reason, error.recovery.value, getattr(error, "field", None))
        )
    if letters:
        flow.store.dlq_add(letters)


async def run_live(
    flow: Flow,
    stop: asyncio.Event,
    *,
    poll_interval: float = 2.0,
    on_cycle: Callable[[bool], Awaitable[None] | None] | None = None,
) -> None:
    """Poll and process until ``stop`` is set. Errors are logged and retried on the next cycle."""
    while not stop.is_set():
        busy = False
        try:
            busy = await poll_once(flow) > 0
            while await process_inbox(flow) > 0:
                busy = True
        except CrmsyncError as exc:
            log.warning("live sync cycle of flow %s failed: %s", flow.name, exc)
        if on_cycle is not None:
            res = on_cycle(busy)
            if asyncio.iscoroutine(res):
                await res
        if not busy:
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_interval)
            except TimeoutError:
                pass
