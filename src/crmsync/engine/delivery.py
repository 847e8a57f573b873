"""Project a batch of source records, skip what did not change, deliver the rest.

This is the heart of promise 4 ("no redundant writes"): a record whose projection hash equals the
last delivered hash for this target causes no call, in bulk and in live sync alike. A record older
than what was already delivered (source version) is stale and never overwrites the newer one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmsync.engine.consent import CONSENT, deliver_consent
from crmsync.engine.events import deliver_event_records
from crmsync.engine.flow import Flow
from crmsync.engine.identity import link_existing, link_source_ids
from crmsync.engine.ownership import note_withheld
from crmsync.engine.stats import Failure
from crmsync.errors import RETRYABLE, CrmsyncError, RecordValidationError, Recovery
from crmsync.mapping import diff_payloads, projection_hash
from crmsync.ports import (
    DeliveryResult,
    ProgressCallback,
    Projection,
    SourceRecord,
)
from crmsync.store import DeadLetterIn, DeliveredWrite

log = logging.getLogger("crmsync.engine.delivery")
_MAX_IN_FLIGHT = 64


@dataclass
class BatchOutcome:
    delivered: list[str] = field(default_factory=list)  # record keys
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    failed: dict[str, CrmsyncError] = field(default_factory=dict)  # permanent: do not retry as is
    retry: dict[str, CrmsyncError] = field(default_factory=dict)  # transient: try again later
    refused: list[str] = field(default_factory=list)  # erased people: never sent again

    @property
    def done(self) -> list[str]:
        """Keys whose work is finished (delivered, unchanged, stale, refused or permanently failed)."""
        return self.delivered + self.unchanged + self.stale + self.refused + list(self.failed)


@dataclass
class _Pending:
    internal_id: str
    record: SourceRecord
    projection: Projection
    hash: str
    stored: dict[str, Any] = field(default_factory=dict)  # what is remembered (incl. consent)
    previous: dict[str, Any] | None = None


async def deliver_records(
    flow: Flow,
    records: list[SourceRecord],
    *,
    origin_times: Mapping[str, datetime] | None = None,
    progress: ProgressCallback | None = None,
    force_bulk: bool | None = None,
    attempts: Mapping[str, int] | None = None,
    force: bool = False,
) -> BatchOutcome:
    """Deliver ``records`` (one per source id) to the flow's target; return what happened to each.

    ``force`` sends records even when their projection equals the delivered one (restoring values
    the target changed behind our back).

    Permanent failures are parked as dead letters here, with their payload and reason, before the
    caller settles anything: a failure is never acknowledged away unseen. Retryable ones are
    returned in ``outcome.retry`` for the caller's policy (live: backoff in the inbox; bulk:
    retried within the run).
    """
    letters: list[DeadLetterIn] = []
    tries = attempts or {}
    outcome = BatchOutcome()
    if not records:
        return outcome
    stats = flow.stats
    store = flow.store
    if flow.events is not None:
        await deliver_event_records(
            flow,
            records,
            outcome,
            letters,
            progress=progress,
            force_bulk=force_bulk,
            attempts=dict(tries),
            dead_letter=dead_letter,
        )
        if letters:
            store.dlq_add(letters)
        return outcome
    if flow.projector is None:
        raise CrmsyncError(f"flow {flow.name} has no mapping for {flow.kind} records")
    records = _refuse_erased(flow, records, outcome)
    if not records:
        return outcome
    ids = store.ensure_records(flow.kind, flow.source.system, "id", [r.id for r in records])
    previous = store.get_delivered(flow.target_key, list(ids.values()))

    pending: list[_Pending] = []
    held: list[tuple[str, SourceRecord, dict[str, Any]]] = []  # the source's values of others' attributes
    # attributes another system owns: never sent, and never cleared because the source lacks them
    withheld: tuple[str, ...] = tuple(getattr(flow.projector, "withheld", ()))
    for record in records:
        internal_id = ids[record.id]
        try:
            result = flow.projector.project(record.data)
        except RecordValidationError as exc:
            exc.record_key = exc.record_key or record.id
            exc.entity = exc.entity or flow.kind
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
        if getattr(result, "withheld", None):
            held.append((internal_id, record, result.withheld))  # type: ignore[attr-defined]
        digest = projection_hash(result.payload)
        prev = previous.get(internal_id)
        if prev is not None:
            if (
                prev.source_version is not None
                and record.version is not None
                and record.version < prev.source_version
            ):
                outcome.stale.append(record.id)
                stats.stale += 1
                continue
            if prev.hash == digest and not force:
                outcome.unchanged.append(record.id)
                stats.unchanged += 1
                continue
        removed = (
            [
                c.path
                for c in diff_payloads(prev.payload, result.payload)
                if c.kind == "removed" and not c.path.startswith((CONSENT, *withheld))
            ]
            if prev is not None
            else []
        )
        projection = Projection(
            kind=flow.projection_kind,
            record_key=record.id,
            payload={k: v for k, v in result.payload.items() if k != CONSENT},  # consent goes its own way
            identifiers=dict(result.identifiers),
            correlation_id=record.correlation_id,
            clear=removed,
            previous={k: v for k, v in prev.payload.items() if k != CONSENT} if prev is not None else None,
        )
        pending.append(
            _Pending(
                internal_id,
                record,
                projection,
                digest,
                result.payload,
                prev.payload if prev is not None else None,
            )
        )

    await note_withheld(flow, held)
    if pending and flow.prerequisite is not None:
        waiting = await flow.prerequisite([p.record for p in pending])
        for item in pending:
            if item.record.id in waiting:
                outcome.retry[item.record.id] = waiting[item.record.id]
        pending = [p for p in pending if p.record.id not in waiting]
    if not pending:
        if letters:
            flow.store.dlq_add(letters)
        if progress is not None:
            await _call(progress, 0, 0)
        return outcome

    caps = flow.target.capabilities
    use_bulk = caps.bulk_upsert and (
        force_bulk if force_bulk is not None else len(pending) >= flow.bulk_threshold
    )
    completed_at: dict[str, datetime] = {}
    if use_bulk:
        stats.bulk_jobs += -(-len(pending) // max(1, caps.max_bulk_records or len(pending)))
        results = await flow.target.bulk_upsert([p.projection for p in pending], progress)
    elif caps.upsert:
        results = await _upsert_each(flow, pending, progress, completed_at)
    else:
        raise CrmsyncError(f"target {flow.target.name} can neither upsert nor bulk upsert {flow.kind}")

    fatal = next(
        (r.error for r in results if r.error is not None and r.error.recovery is Recovery.FATAL), None
    )
    if fatal is not None:
        raise fatal  # e.g. the target refused the credentials: no record can get through, stop the run
    by_key = {r.record_key: r for r in results}
    writes: list[DeliveredWrite] = []
    target_links: list[tuple[str, str]] = []
    consent_items: list[_Pending] = []
    external_links: list[tuple[str, str]] = []  # the target's external_id: known even from bulk jobs
    now = datetime.now(UTC)
    for item in pending:
        key = item.record.id
        res = by_key.get(key)
        if res is None:
            err = CrmsyncError("target returned no result for this record", record_key=key)
            outcome.retry[key] = err
            continue
        if res.ok:
            writes.append(
                DeliveredWrite(
                    internal_id=item.internal_id,
                    payload=item.stored,
                    hash=item.hash,
                    source_version=item.record.version,
                    target_id=res.target_id,
                )
            )
            consent_items.append(item)
            if res.target_id:
                target_links.append((item.internal_id, res.target_id))
            external = item.projection.identifiers.get("external_id")
            if external:
                external_links.append((item.internal_id, external))
            outcome.delivered.append(key)
            stats.delivered += 1
            if res.created is True:
                stats.created += 1
            elif res.created is False:
                stats.updated += 1
            if origin_times and key in origin_times:
                finished = completed_at.get(key, now)
                stats.latencies_ms.append((finished - origin_times[key]).total_seconds() * 1000.0)
            continue
        error = res.error or CrmsyncError("delivery failed without a reason", record_key=key)
        error.record_key = error.record_key or key
        if error.recovery in RETRYABLE:
            outcome.retry[key] = error
        else:
            outcome.failed[key] = error
            field_name = getattr(error, "field", None)
            stats.add_failure(Failure(key, error.message, error.recovery.value, field_name))
            letters.append(
                dead_letter(
                    flow,
                    key,
                    error,
                    item.projection.payload,
                    item.projection.correlation_id,
                    tries.get(key, 1),
                )
            )
    if consent_items:
        writes = await deliver_consent(flow, consent_items, writes, outcome, historical=use_bulk)
    if letters:
        store.dlq_add(letters)
    if writes:
        store.save_delivered(flow.target_key, writes)
    if target_links:
        store.link_many(flow.kind, flow.target.system, "id", dict(target_links))
    if external_links:
        store.add_links(flow.kind, flow.target.system, {"external_id": dict(external_links)})
    link_source_ids(flow, [(p.internal_id, p.record) for p in consent_items])
    return outcome


def _refuse_erased(flow: Flow, records: list[SourceRecord], outcome: BatchOutcome) -> list[SourceRecord]:
    """Drop the records of erased people (tombstones by source id or e-mail) before anything else
    happens to them — no projection, no call, no dead letter holding their data."""
    if flow.kind != "customer":
        return records
    store = flow.store
    refused = store.tombstoned(flow.kind, "id", [r.id for r in records])
    emails = {r.id: str(r.data["email"]) for r in records if isinstance(r.data.get("email"), str)}
    erased_emails = store.tombstoned(flow.kind, "email", list(emails.values()))
    refused |= {rid for rid, email in emails.items() if email in erased_emails}
    if not refused:
        return records
    outcome.refused.extend(r.id for r in records if r.id in refused)
    flow.stats.refused += len(refused)
    return [r for r in records if r.id not in refused]


def dead_letter(
    flow: Flow,
    record_key: str,
    error: CrmsyncError,
    payload: dict[str, Any] | None,
    correlation_id: str | None,
    attempts: int,
    reason: str | None = None,
) -> DeadLetterIn:
    """A dead letter with everything an operator needs: payload, reason, field, status, detail."""
    detail = (
        error.detail
        if isinstance(error.detail, dict)
        else ({"detail": str(error.detail)} if error.detail else None)
    )
    return DeadLetterIn(
        flow=flow.name,
        target=flow.target_key,
        kind=flow.kind,
        record_key=record_key,
        reason=reason or error.message,
        recovery=error.recovery.value,
        error_type=type(error).__name__,
        attempts=attempts,
        field=getattr(error, "field", None),
        status_code=error.status,
        payload=payload,
        detail=detail,
        correlation_id=correlation_id or error.correlation_id,
    )


async def _upsert_each(
    flow: Flow,
    pending: list[_Pending],
    progress: ProgressCallback | None,
    completed_at: dict[str, datetime],
) -> list[DeliveryResult]:
    limit = asyncio.Semaphore(_MAX_IN_FLIGHT)
    done = 0
    total = len(pending)

    async def one(p: _Pending) -> DeliveryResult:
        nonlocal done
        async with limit:
            try:
                if flow.match_order and p.previous is None and flow.target.capabilities.find:
                    await link_existing(flow, p.internal_id, p.projection)
                res = await flow.target.upsert(p.projection)
            except CrmsyncError as exc:
                res = DeliveryResult(record_key=p.record.id, ok=False, error=exc)
        completed_at[p.record.id] = datetime.now(UTC)
        done += 1
        if progress is not None:
            await _call(progress, done, total)
        return res

    return list(await asyncio.gather(*(one(p) for p in pending)))


async def _call(progress: ProgressCallback, done: int, total: int) -> None:
    result = progress(done, total)
    if asyncio.iscoroutine(result):
        await result
