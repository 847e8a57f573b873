"""Bulk sync: read every record (or the given ids) by keyset pages, deliver in large batches.

The keyset cursor is checkpointed after each delivered batch, so an interrupted sync resumes where
it stopped instead of starting over. Only changed projections reach the target (see delivery.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from crmsync.engine.delivery import BatchOutcome, dead_letter, deliver_records
from crmsync.engine.flow import Flow
from crmsync.engine.policy import Action
from crmsync.engine.stats import Failure
from crmsync.errors import CrmsyncError
from crmsync.ports import SourceRecord
from crmsync.store import DeadLetterIn


@dataclass
class BulkProgress:
    phase: str  # "reading" | "delivering" | "done"
    read: int
    delivered: int
    unchanged: int
    failed: int
    batch_done: int = 0
    batch_total: int = 0


ProgressFn = Callable[[BulkProgress], Awaitable[None] | None]


async def sync_all(
    flow: Flow,
    *,
    ids: list[str] | None = None,
    resume: bool = True,
    progress: ProgressFn | None = None,
    stop: asyncio.Event | None = None,
) -> bool:
    """Run a bulk sync of ``flow.kind``; return True when complete, False when stopped early.

    With ``ids`` only those records are read (``read_by_ids``); otherwise every record by keyset
    pages, resuming from the checkpointed cursor when ``resume`` is true.
    """
    caps = flow.source.capabilities
    checkpoint = flow.checkpoint_name("bulk")
    store = flow.store
    stats = flow.stats

    async def report(phase: str, done: int = 0, total: int = 0) -> None:
        if progress is None:
            return
        snap = BulkProgress(phase, stats.read, stats.delivered, stats.unchanged, stats.failed, done, total)
        res = progress(snap)
        if asyncio.iscoroutine(res):
            await res

    async def deliver(batch: list[SourceRecord]) -> BatchOutcome:
        async def on_progress(done: int, total: int) -> None:
            await report("delivering", done, total)

        outcome = await deliver_records(flow, batch, progress=on_progress)
        by_id = {r.id: r for r in batch}
        attempt = 1
        while outcome.retry:
            again: list[SourceRecord] = []
            letters: list[DeadLetterIn] = []
            delay = 0.0
            for key, error in outcome.retry.items():
                decision = flow.policy.decide(error, attempt)
                if decision.action is Action.STOP:
                    raise error
                if decision.action is Action.RETRY:
                    again.append(by_id[key])
                    delay = max(delay, decision.delay)
                    continue
                letters.append(
                    dead_letter(flow, key, error, None, by_id[key].correlation_id, attempt, decision.reason)
                )
                stats.add_failure(
                    Failure(key, decision.reason, error.recovery.value, getattr(error, "field", None))
                )
            if letters:
                store.dlq_add(letters)
            outcome.retry = {}
            if not again:
                break
            if stop is not None and stop.is_set():
                raise CrmsyncError(
                    f"stopped while {len(again)} record(s) waited for a retry; run the sync again to resume"
                )
            await asyncio.sleep(delay)
            attempt += 1
            retried = await deliver_records(flow, again, attempts=dict.fromkeys(by_id, attempt))
            outcome.delivered += retried.delivered
            outcome.unchanged += retried.unchanged
            outcome.stale += retried.stale
            outcome.failed.update(retried.failed)
            outcome.retry = retried.retry
        return outcome

    if ids is not None:
        if not caps.read_by_ids:
            raise CrmsyncError(f"source {flow.source.name} cannot read {flow.kind} records by id")
        unique = list(dict.fromkeys(ids))
        records: list[SourceRecord] = []
        for i in range(0, len(unique), flow.batch_size):
            if stop is not None and stop.is_set():
                return False
            chunk = await flow.source.read_by_ids(flow.kind, unique[i : i + flow.batch_size])
            stats.read += len(chunk)
            records = chunk
            await report("reading")
            await deliver(records)
        missing = len(unique) - stats.read
        if missing > 0:
            stats.failed += missing
        await report("done")
        return True

    if not caps.read_pages:
        raise CrmsyncError(f"source {flow.source.name} cannot read {flow.kind} records in pages")
    if caps.change_feed and store.get_checkpoint(flow.feed_checkpoint) is None:
        # Pin the live feed to the start of the first full read: whatever changes while the read
        # runs is picked up by the live sync afterwards (deduplicated, and unchanged ones cost no call).
        store.set_checkpoint(flow.feed_checkpoint, flow.source.cursor_at(datetime.now(UTC)))
    state = store.get_checkpoint(checkpoint) if resume else None
    after = state.get("after") if state and state.get("status") == "running" else None
    store.set_checkpoint(
        checkpoint,
        {"status": "running", "after": after, "started_at": datetime.now(UTC).isoformat()},
    )
    batch: list[SourceRecord] = []
    async for page in flow.source.read_pages(flow.kind, after=after):
        batch.extend(page)
        stats.read += len(page)
        await report("reading")
        if len(batch) >= flow.batch_size:
            await deliver(batch)
            after = batch[-1].id
            store.set_checkpoint(checkpoint, {"status": "running", "after": after})
            batch = []
        if stop is not None and stop.is_set():
            if batch:
                await deliver(batch)
                store.set_checkpoint(checkpoint, {"status": "running", "after": batch[-1].id})
            return False
    if batch:
        await deliver(batch)
    store.set_checkpoint(
        checkpoint, {"status": "complete", "after": None, "completed_at": datetime.now(UTC).isoformat()}
    )
    await report("done")
    return True
