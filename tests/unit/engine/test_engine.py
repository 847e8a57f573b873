"""Engine behaviour with in-memory connectors, the real store (SQLite) and the default contract."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crmsync.engine import Flow, poll_once, process_inbox, sync_all
from crmsync.mapping import Projector, load_contract
from crmsync.store import StateStore

from .fakes import FakeSource, FakeTarget, customer, event


@pytest.fixture()
def store(tmp_path: Path):
    s = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def make_flow(store: StateStore, source: FakeSource, target: FakeTarget, **kw) -> Flow:
    return Flow(
        name="f",
        kind="customer",
        source=source,
        target=target,
        projector=Projector(load_contract("default")),
        store=store,
        **kw,
    )


async def test_bulk_then_rerun_sends_nothing_then_one_change_one_write(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    for i in range(250):
        src.put(customer(f"c{i:04d}"))
    flow = make_flow(store, src, tgt, bulk_threshold=100)
    assert await sync_all(flow)
    assert tgt.bulk_calls == [250] and len(tgt.profiles) == 250
    assert tgt.profiles["c0007"]["first_name"] == "Ada"

    flow.stats = type(flow.stats)()
    assert await sync_all(flow, resume=False)
    assert flow.stats.unchanged == 250 and tgt.bulk_calls == [250] and tgt.upserts == []

    src.put(customer("c0007", first="Grace", version=2))
    flow.stats = type(flow.stats)()
    await sync_all(flow, resume=False)
    assert tgt.upserts == ["c0007"] and flow.stats.delivered == 1 and flow.stats.unchanged == 249
    assert tgt.profiles["c0007"]["first_name"] == "Grace"


async def test_small_batches_use_single_upserts(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    for i in range(5):
        src.put(customer(f"c{i}"))
    flow = make_flow(store, src, tgt, bulk_threshold=100)
    await sync_all(flow)
    assert tgt.bulk_calls == [] and sorted(tgt.upserts) == [f"c{i}" for i in range(5)]


async def test_bulk_resumes_from_checkpoint(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    for i in range(30):
        src.put(customer(f"c{i:02d}"))
    flow = make_flow(store, src, tgt, batch_size=10, bulk_threshold=1000)
    stop = asyncio.Event()
    seen = 0

    def on_progress(p) -> None:
        nonlocal seen
        seen = p.read
        if p.read >= 10:
            stop.set()

    src.page_size = 10
    complete = await sync_all(flow, progress=on_progress, stop=stop)
    assert complete is False
    first = set(tgt.profiles)
    assert first and len(first) < 30
    reads_before = src.reads
    flow.stats = type(flow.stats)()
    assert await sync_all(flow)  # resumes after the checkpoint
    assert set(tgt.profiles) == {f"c{i:02d}" for i in range(30)}
    assert flow.stats.read == 30 - len(first)
    assert src.reads > reads_before


async def test_live_out_of_order_and_duplicates_converge(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    flow = make_flow(store, src, tgt)
    src.put(customer("c1", first="V3", version=3))
    # newest first, duplicated, plus an older one arriving late
    src.feed = [
        event("c1", 3),
        event("c1", 3),
        event("c1", 2),
        event("c1", 1, record=customer("c1", "V1"), event_type="CustomerCreated"),
    ]
    assert await poll_once(flow) == 3  # the duplicate is dropped by the inbox
    await process_inbox(flow)
    assert tgt.profiles["c1"]["first_name"] == "V3"
    # a stale event after the fact changes nothing
    src.feed.append(event("c1", 2, event_id="late-2"))
    await poll_once(flow)
    await process_inbox(flow)
    assert tgt.upserts == ["c1"] and flow.stats.stale >= 1
    assert store.inbox_counts().get("pending", 0) == 0


async def test_live_unchanged_projection_makes_no_call(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    flow = make_flow(store, src, tgt)
    src.put(customer("c1"))
    await sync_all(flow)
    src.put(customer("c1", version=2))  # version moves, projected fields do not
    src.feed = [event("c1", 2)]
    await poll_once(flow)
    await process_inbox(flow)
    assert tgt.upserts == ["c1"] and flow.stats.unchanged == 1


async def test_live_transient_failure_stays_pending_then_succeeds(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    flow = make_flow(store, src, tgt)
    src.put(customer("c1"))
    src.feed = [event("c1", 1)]
    tgt.fail_transient.add("c1")
    await poll_once(flow)
    await process_inbox(flow)
    assert store.inbox_counts().get("pending") == 1 and "c1" not in tgt.profiles
    tgt.fail_transient.clear()
    await process_inbox(flow)
    assert "c1" in tgt.profiles and store.inbox_counts().get("pending", 0) == 0


async def test_invalid_record_fails_alone(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    src.put(customer("ok1"))
    src.put(customer("bad", email="not an email"))
    src.put(customer("ok2"))
    flow = make_flow(store, src, tgt)
    await sync_all(flow)
    assert set(tgt.profiles) == {"ok1", "ok2"}
    assert flow.stats.failed == 1 and flow.stats.failures[0].record_key == "bad"


async def test_deleted_event_settles_without_target_call(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    flow = make_flow(store, src, tgt)
    src.feed = [event("gone", 5, deleted=True, event_type="CustomerDeleted")]
    await poll_once(flow)
    await process_inbox(flow)
    assert tgt.upserts == [] and flow.stats.deleted == 1
    assert store.inbox_counts().get("done") == 1


async def test_fields_removed_at_the_source_are_cleared_at_the_target(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    flow = make_flow(store, src, tgt)
    src.put(
        customer("c1", title="Dr", custom={"type": {"typeId": "type", "id": "t"}, "fields": {"tier": "gold"}})
    )
    await sync_all(flow)
    assert tgt.last["c1"].clear == [] and tgt.profiles["c1"]["title"] == "Dr"
    src.put(customer("c1", version=2))
    await sync_all(flow, resume=False)
    assert sorted(tgt.last["c1"].clear) == ["properties.tier", "title"]


async def test_fatal_target_error_stops_the_run(store: StateStore) -> None:
    from crmsync.errors import CredentialsError

    src, tgt = FakeSource(), FakeTarget()
    src.put(customer("c1"))
    flow = make_flow(store, src, tgt)

    async def refuse(item):  # type: ignore[no-untyped-def]
        from crmsync.ports import DeliveryResult

        return DeliveryResult(
            item.record_key, ok=False, error=CredentialsError("Klaviyo refused the API key")
        )

    tgt.upsert = refuse  # type: ignore[method-assign]
    with pytest.raises(CredentialsError, match="refused the API key"):
        await sync_all(flow)
    assert (
        store.get_delivered(
            flow.target_key, list(store.resolve_many("customer", "commercetools", "id", ["c1"]).values())
        )
        == {}
    )


async def test_messages_and_change_notifications_are_ordered_by_resource_version(store: StateStore) -> None:
    """sequenceNumber counts messages only; the version is the order both kinds of event share."""
    src, tgt = FakeSource(), FakeTarget()
    flow = make_flow(store, src, tgt)
    src.put(customer("c1", first="A", version=12))
    change = event("c1", 12, event_type="ResourceUpdated", event_id="c1:12")  # change notification, v12
    src.feed = [change]
    await poll_once(flow)
    await process_inbox(flow)
    assert tgt.profiles["c1"]["first_name"] == "A"
    # the next update: its message has sequenceNumber 11 (< 12) but resourceVersion 13 — not stale
    src.put(customer("c1", first="B", version=13))
    msg = event("c1", 11, event_id="m-11")
    msg.resource_version = 13
    src.feed.append(msg)
    await poll_once(flow)
    await process_inbox(flow)
    assert tgt.profiles["c1"]["first_name"] == "B"


async def test_an_event_claiming_an_unreached_version_cannot_poison_ordering(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    flow = make_flow(store, src, tgt)
    src.put(customer("c1", first="A", version=3))
    src.feed = [event("c1", 99, event_type="ResourceUpdated", event_id="bogus")]
    await poll_once(flow)
    for _ in range(3):  # waits LAG_ATTEMPTS rounds for the source to reach v99, then takes v3
        await process_inbox(flow)
    assert tgt.profiles["c1"]["first_name"] == "A"
    assert store.get_positions(flow.source_key, "customer", ["c1"]) == {"c1": 3}
    src.put(customer("c1", first="B", version=4))
    src.feed.append(event("c1", 4))
    await poll_once(flow)
    await process_inbox(flow)
    assert tgt.profiles["c1"]["first_name"] == "B"


def _no_wait_policy(max_attempts: int = 3):  # type: ignore[no-untyped-def]
    from crmsync.engine.policy import RetryPolicy

    return RetryPolicy(schedule=(0.0,), max_attempts=max_attempts)


async def test_permanent_failures_become_dead_letters_with_context(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    src.put(customer("ok"))
    src.put(customer("refused"))
    src.put(customer("unmappable", email="not an email"))
    tgt.fail_permanent.add("refused")
    flow = make_flow(store, src, tgt)
    await sync_all(flow)
    letters = {d.record_key: d for d in store.dlq_list()}
    assert set(letters) == {"refused", "unmappable"}
    assert letters["refused"].payload is not None and letters["refused"].payload["external_id"] == "refused"
    assert letters["refused"].error_type == "CrmsyncError" and letters["refused"].recovery == "permanent"
    assert (
        letters["unmappable"].field == "email"
        and letters["unmappable"].payload["source"]["id"] == "unmappable"
    )


async def test_bulk_retries_transient_failures_within_the_run(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    for i in range(3):
        src.put(customer(f"c{i}"))
    flow = make_flow(store, src, tgt)
    flow.policy = _no_wait_policy()
    calls = 0
    original = tgt._apply

    def flaky(item):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if item.record_key == "c1" and calls < 4:
            from crmsync.errors import TransientError
            from crmsync.ports import DeliveryResult

            return DeliveryResult(item.record_key, ok=False, error=TransientError("503"))
        return original(item)

    tgt._apply = flaky  # type: ignore[method-assign]
    assert await sync_all(flow)
    assert set(tgt.profiles) == {"c0", "c1", "c2"} and store.dlq_list() == []


async def test_bulk_gives_up_after_max_attempts_into_the_dead_letters(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    src.put(customer("c1"))
    tgt.fail_transient.add("c1")
    flow = make_flow(store, src, tgt)
    flow.policy = _no_wait_policy(max_attempts=3)
    await sync_all(flow)
    [letter] = store.dlq_list()
    assert letter.record_key == "c1" and "gave up after 3 attempts" in letter.reason
    assert flow.stats.failed == 1


async def test_live_backoff_then_dead_letter(store: StateStore) -> None:
    src, tgt = FakeSource(), FakeTarget()
    flow = make_flow(store, src, tgt)
    flow.policy = _no_wait_policy(max_attempts=3)
    src.put(customer("c1"))
    src.feed = [event("c1", 1)]
    tgt.fail_transient.add("c1")
    await poll_once(flow)
    for _ in range(3):
        await process_inbox(flow)
    assert store.inbox_counts()["failed"] == 1 and store.inbox_counts()["pending"] == 0
    [letter] = store.dlq_list()
    assert letter.record_key == "c1" and letter.attempts == 3


class _SlowTarget(FakeTarget):
    """Each write takes a while, so delivering a claim outlasts several lease periods."""

    def __init__(self, delay: float) -> None:
        super().__init__(bulk=False)
        self.delay = delay
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []

    async def upsert(self, item):  # type: ignore[no-untyped-def]
        if item.record_key in self.in_flight:
            self.overlaps.append(item.record_key)
        self.in_flight.add(item.record_key)
        try:
            await asyncio.sleep(self.delay)
            return await super().upsert(item)
        finally:
            self.in_flight.discard(item.record_key)


async def test_a_claim_outlasting_its_lease_is_renewed_not_taken_over(store: StateStore) -> None:
    from datetime import timedelta

    src, tgt = FakeSource(), _SlowTarget(delay=1.2)
    ttl = timedelta(seconds=0.3)
    for cid in ("c1", "c2"):
        src.put(customer(cid, version=2))
        src.feed.append(event(cid, 2, record=customer(cid, version=2)))
    first = make_flow(store, src, tgt, worker_id="w1", lease_ttl=ttl)
    second = make_flow(store, src, tgt, worker_id="w2", lease_ttl=ttl)
    await poll_once(first)

    async def late_worker() -> int:
        await asyncio.sleep(0.7)  # more than two lease periods into w1's claim
        assert set(store.lease_holders("res:").values()) == {"w1"}
        return await process_inbox(second)

    settled_first, settled_second = await asyncio.gather(process_inbox(first), late_worker())
    assert (settled_first, settled_second) == (2, 0)
    assert sorted(tgt.upserts) == ["c1", "c2"] and tgt.overlaps == []
    assert store.lease_holders("res:") == {}  # released when done
