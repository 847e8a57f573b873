"""The durable inbox: dedupe, received order, marking, counts, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crmsync.store import InboxEventIn, InvalidValueError, StateStore
from tests.contract.store.conftest import assert_utc, now

BERLIN_SUMMER = timezone(timedelta(hours=2))


def event(event_id: str, resource: str = "r1", sequence: int | None = 1, **kw: object) -> InboxEventIn:
    fields: dict[str, object] = {
        "event_id": event_id,
        "kind": "customer",
        "resource_id": resource,
        "event_type": "CustomerCreated",
        "occurred_at": datetime(2024, 5, 1, 14, 30, 0, 123456, tzinfo=BERLIN_SUMMER),
        "sequence": sequence,
        "payload": {"email": "zoë@example.com", "addresses": [{"city": "Köln"}]},
        "correlation_id": f"corr-{event_id}",
    }
    fields.update(kw)
    return InboxEventIn(**fields)


def test_add_dedupes_by_source_and_event_id(store: StateStore) -> None:
    assert store.inbox_add("ct", [event("e1"), event("e2"), event("e1")]) == 2
    assert store.inbox_add("ct", [event("e2"), event("e3")]) == 1
    assert store.inbox_add("ct", [event("e1")]) == 0
    assert store.inbox_add("other", [event("e1")]) == 1  # another source, another namespace
    assert store.inbox_add("ct", []) == 0
    assert store.inbox_counts("ct") == {"pending": 3, "done": 0, "stale": 0, "failed": 0}
    assert store.inbox_counts() == {"pending": 4, "done": 0, "stale": 0, "failed": 0}


def test_pending_round_trip_in_received_order(store: StateStore) -> None:
    received = now()
    store.inbox_add("ct", [event("e3", "r3", 7), event("e1", "r1", None)])
    store.inbox_add("ct", [event("e2", "r2", 2, payload={})])
    rows = store.inbox_pending("ct")
    assert [r.event_id for r in rows] == ["e3", "e1", "e2"]
    assert rows[0].id < rows[1].id < rows[2].id
    first = rows[0]
    assert (first.source, first.kind, first.resource_id, first.event_type) == (
        "ct",
        "customer",
        "r3",
        "CustomerCreated",
    )
    assert first.sequence == 7
    assert rows[1].sequence is None
    assert first.payload == {"email": "zoë@example.com", "addresses": [{"city": "Köln"}]}
    assert rows[2].payload == {}
    assert first.correlation_id == "corr-e3"
    assert (first.status, first.attempts, first.error) == ("pending", 0, None)
    assert_utc(first.occurred_at)
    assert first.occurred_at == datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)  # same instant, in UTC
    assert_utc(first.received_at, near=received)
    assert [r.event_id for r in store.inbox_pending("ct", limit=2)] == ["e3", "e1"]
    assert store.inbox_pending("nobody") == []


def test_naive_datetimes_are_refused_and_nothing_is_stored(store: StateStore) -> None:
    with pytest.raises(InvalidValueError, match="timezone-aware"):
        store.inbox_add("ct", [event("ok"), event("bad", occurred_at=datetime(2024, 1, 1))])
    assert store.inbox_counts("ct")["pending"] == 0


def test_mark_records_outcome_attempts_and_error(store: StateStore) -> None:
    store.inbox_add("ct", [event("e1"), event("e2"), event("e3"), event("e4")])
    e1, e2, e3, e4 = store.inbox_pending("ct")
    store.inbox_mark([e1.id], "done")
    store.inbox_mark([e2.id], "failed", "klaviyo 400: invalid phone_number")
    store.inbox_mark([e3.id], "stale")
    store.inbox_mark([e4.id], "pending", "transient: 503")
    store.inbox_mark([], "done")
    assert store.inbox_counts("ct") == {"pending": 1, "done": 1, "stale": 1, "failed": 1}

    [failed] = store.inbox_rows("ct", "failed")
    assert (failed.event_id, failed.attempts, failed.error) == ("e2", 1, "klaviyo 400: invalid phone_number")
    [retry] = store.inbox_pending("ct")
    assert (retry.event_id, retry.attempts, retry.error) == ("e4", 1, "transient: 503")

    # An operator re-queues the failed event: not a processing attempt; the error is cleared.
    store.inbox_mark([failed.id], "pending", count_attempt=False)
    requeued = next(r for r in store.inbox_pending("ct") if r.event_id == "e2")
    assert (requeued.attempts, requeued.error) == (1, None)
    store.inbox_mark([requeued.id, retry.id], "done")
    assert store.inbox_counts("ct") == {"pending": 0, "done": 3, "stale": 1, "failed": 0}
    assert {r.attempts for r in store.inbox_rows("ct", "done")} == {1, 2}


def test_invalid_status_is_refused(store: StateStore) -> None:
    store.inbox_add("ct", [event("e1")])
    [row] = store.inbox_pending("ct")
    with pytest.raises(InvalidValueError, match="unknown inbox status"):
        store.inbox_mark([row.id], "processing")
    with pytest.raises(InvalidValueError):
        store.inbox_rows("ct", "bogus")


def test_rows_page_with_after_id(store: StateStore) -> None:
    store.inbox_add("ct", [event(f"e{i}") for i in range(7)])
    seen: list[str] = []
    after = None
    while page := store.inbox_rows("ct", "pending", limit=3, after_id=after):
        seen.extend(r.event_id for r in page)
        after = page[-1].id
    assert seen == [f"e{i}" for i in range(7)]


def test_purge_removes_only_settled_old_events(store: StateStore) -> None:
    store.inbox_add("ct", [event("done"), event("failed"), event("pending")])
    store.inbox_add("other", [event("done-elsewhere")])
    rows = {r.event_id: r.id for r in store.inbox_pending("ct") + store.inbox_pending("other")}
    store.inbox_mark([rows["done"], rows["done-elsewhere"]], "done")
    store.inbox_mark([rows["failed"]], "failed", "x")

    assert store.inbox_purge(now() - timedelta(hours=1)) == 0  # nothing that old
    assert store.inbox_purge(now() + timedelta(seconds=1), source="ct") == 1
    assert store.inbox_counts("other")["done"] == 1
    assert store.inbox_purge(now() + timedelta(seconds=1), statuses=("failed",)) == 1
    assert store.inbox_counts() == {"pending": 1, "done": 1, "stale": 0, "failed": 0}
    with pytest.raises(InvalidValueError, match="pending"):
        store.inbox_purge(now(), statuses=("pending",))
    with pytest.raises(InvalidValueError):
        store.inbox_purge(datetime(2030, 1, 1))


def test_ids_are_not_reused_after_purge(store: StateStore) -> None:
    store.inbox_add("ct", [event("e1"), event("e2")])
    last = store.inbox_pending("ct")[-1].id
    store.inbox_mark([r.id for r in store.inbox_pending("ct")], "done")
    store.inbox_purge(now() + timedelta(seconds=1))
    store.inbox_add("ct", [event("e3")])
    assert store.inbox_pending("ct")[0].id > last


def test_large_batch(store: StateStore) -> None:
    events = [event(f"e{i}", f"r{i % 100}", i) for i in range(6_000)]
    assert store.inbox_add("ct", events) == 6_000
    assert store.inbox_add("ct", [*events[:10], event("new")]) == 1
    pending = store.inbox_pending("ct", limit=10_000)
    assert len(pending) == 6_001
    store.inbox_mark([r.id for r in pending], "done")
    assert store.inbox_counts("ct")["done"] == 6_001
