"""Records that become events (orders → Placed Order, Ordered Product, ...): deliver each event once.

Events are append-only at the target: they cannot be updated, only added, and the target keeps
the first per ``unique_id``. So the delivered state of an order is the set of its events already
accepted (``{"events": {unique_id: metric}}`` in the store's delivered table, one row per order).
A record whose events were all delivered is unchanged and costs no call; a new fact (a shipment,
a refund) sends only its new event. Replays and redeliveries are idempotent twice over: the store
skips known events, and the target deduplicates by ``unique_id``.

Dependencies: an event names its profile; the profile must exist at the target before the
record's first event (so it carries everything the customer flow maps, not only an e-mail).
``Flow.prerequisite`` ensures that (the service wires it to the customer flow); a record whose
prerequisite failed transiently waits (retry), and one whose prerequisite failed for good goes
ahead — the event still names its profile by id and e-mail.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from crmsync.engine.flow import Flow
from crmsync.engine.stats import Failure
from crmsync.errors import RETRYABLE, CrmsyncError, RecordValidationError, Recovery
from crmsync.mapping import projection_hash
from crmsync.ports import DeliveryResult, ProgressCallback, Projection, SourceRecord
from crmsync.store import DeadLetterIn, DeliveredWrite

_MAX_IN_FLIGHT = 64


@dataclass
class _Record:
    record: SourceRecord
    internal_id: str
    known: dict[str, str]  # unique_id -> metric, already delivered
    new: list[dict[str, Any]] = field(default_factory=list)


def _profile_values(item: _Record, name: str) -> list[str]:
    return [
        str(e["profile"][name])
        for e in item.new
        if isinstance(e.get("profile"), dict) and e["profile"].get(name)
    ]


def _erased(item: _Record, erased_ids: set[str], erased_mail: set[str]) -> bool:
    return bool(set(_profile_values(item, "external_id")) & erased_ids) or bool(
        set(_profile_values(item, "email")) & erased_mail
    )


async def deliver_event_records(
    flow: Flow,
    records: list[SourceRecord],
    outcome: Any,
    letters: list[DeadLetterIn],
    *,
    progress: ProgressCallback | None = None,
    force_bulk: bool | None = None,
    attempts: dict[str, int] | None = None,
    dead_letter: Any,
) -> None:
    """Fill ``outcome`` (a :class:`~crmsync.engine.delivery.BatchOutcome`) for event-producing records."""
    assert flow.events is not None
    stats, store = flow.stats, flow.store
    tries = attempts or {}
    ids = store.ensure_records(flow.kind, flow.source.system, "id", [r.id for r in records])
    previous = store.get_delivered(flow.target_key, list(ids.values()))
    work: list[_Record] = []
    for record in records:
        internal_id = ids[record.id]
        try:
            events = flow.events.events(record.data)
        except RecordValidationError as exc:
            exc.record_key, exc.entity = exc.record_key or record.id, exc.entity or flow.kind
            outcome.failed[record.id] = exc
            stats.add_failure(Failure(record.id, exc.message, exc.recovery.value, exc.field))
            letters.append(
                dead_letter(
                    flow,
                    record.id,
                    exc,
                    {"source": record.data},
                    record.correlation_id,
                    tries.get(record.id, 1),
                )
            )
            continue
        stats.projected += 1
        prev = previous.get(internal_id)
        known: dict[str, str] = dict((prev.payload or {}).get("events") or {}) if prev is not None else {}
        item = _Record(record, internal_id, known, [e for e in events if e["unique_id"] not in known])
        if not item.new:
            outcome.unchanged.append(record.id)
            stats.unchanged += 1
            continue
        work.append(item)

    if work:  # events of an erased person would recreate their profile: refused
        erased_ids = store.tombstoned(
            "customer", "id", [p for w in work for p in _profile_values(w, "external_id")]
        )
        erased_mail = store.tombstoned(
            "customer", "email", [p for w in work for p in _profile_values(w, "email")]
        )
        for item in [w for w in work if _erased(w, erased_ids, erased_mail)]:
            outcome.refused.append(item.record.id)
            stats.refused += 1
        work = [w for w in work if not _erased(w, erased_ids, erased_mail)]
    if work and flow.prerequisite is not None:
        waiting = await flow.prerequisite([w.record for w in work])
        for item in [w for w in work if w.record.id in waiting]:
            outcome.retry[item.record.id] = waiting[item.record.id]
        work = [w for w in work if w.record.id not in waiting]
    if not work:
        if progress is not None:
            reported = progress(0, 0)
            if reported is not None:
                await reported
        return

    projections: list[Projection] = []
    for item in work:
        for event in item.new:
            projections.append(
                Projection(
                    kind="event",
                    record_key=event["unique_id"],
                    payload=event,
                    identifiers=dict(event.get("profile") or {}),
                    correlation_id=item.record.correlation_id,
                )
            )
    caps = flow.target.capabilities
    use_bulk = caps.bulk_upsert and (
        force_bulk if force_bulk is not None else len(projections) >= flow.bulk_threshold
    )
    if use_bulk:
        stats.bulk_jobs += 1
        results = await flow.target.bulk_upsert(projections, progress)
    else:
        gate = asyncio.Semaphore(_MAX_IN_FLIGHT)  # the target's own limits pace the calls

        async def one(item: Projection) -> DeliveryResult:
            async with gate:
                return await flow.target.upsert(item)

        results = list(await asyncio.gather(*(one(p) for p in projections)))
        if progress is not None:
            reported = progress(len(projections), len(projections))
            if reported is not None:
                await reported
    fatal = next(
        (r.error for r in results if r.error is not None and r.error.recovery is Recovery.FATAL), None
    )
    if fatal is not None:
        raise fatal
    by_key: dict[str, DeliveryResult] = {r.record_key: r for r in results}

    writes: list[DeliveredWrite] = []
    for item in work:
        key = item.record.id
        accepted = dict(item.known)
        problems: list[tuple[dict[str, Any], CrmsyncError]] = []
        for event in item.new:
            res = by_key.get(event["unique_id"])
            if res is not None and res.ok:
                accepted[event["unique_id"]] = event["metric"]
                continue
            error = (res.error if res is not None else None) or CrmsyncError(
                "target returned no result for this event", record_key=event["unique_id"]
            )
            problems.append((event, error))
        if len(accepted) > len(item.known):
            writes.append(
                DeliveredWrite(
                    internal_id=item.internal_id,
                    payload={"events": accepted},
                    hash=projection_hash({"events": accepted}),
                    source_version=item.record.version,
                )
            )
        if not problems:
            outcome.delivered.append(key)
            stats.delivered += 1
            stats.created += len(item.new)
            continue
        retryable = [(e, err) for e, err in problems if err.recovery in RETRYABLE]
        if retryable:  # the rest was accepted; the retry re-sends only what is still missing
            outcome.retry[key] = retryable[0][1]
            continue
        event, error = problems[0]
        error.record_key = error.record_key or key
        outcome.failed[key] = error
        stats.add_failure(Failure(key, error.message, error.recovery.value, getattr(error, "field", None)))
        letters.append(
            dead_letter(
                flow,
                key,
                error,
                {"events": [e for e, _ in problems]},
                item.record.correlation_id,
                tries.get(key, 1),
            )
        )
    if writes:
        store.save_delivered(flow.target_key, writes)
