"""Dead letters and the sync log, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crmsync.store import DeadLetterIn, InboxEventIn, InvalidValueError, LogEntry, StateStore

from .conftest import now


def letter(key: str, **kw: object) -> DeadLetterIn:
    base = {
        "flow": "f",
        "target": "marketing:customer",
        "kind": "customer",
        "record_key": key,
        "reason": "phone_number: Invalid phone number",
        "recovery": "permanent",
        "error_type": "RecordValidationError",
        "attempts": 1,
        "field": "phone_number",
        "status_code": 400,
        "payload": {"external_id": key, "phone_number": "+1"},
        "detail": {"errors": [{"code": "invalid"}]},
        "correlation_id": f"corr-{key}",
    }
    base.update(kw)
    return DeadLetterIn(**base)  # type: ignore[arg-type]


def test_dead_letters_keep_context_and_do_not_pile_up(store: StateStore) -> None:
    [first] = store.dlq_add([letter("c1")])
    [again] = store.dlq_add([letter("c1", reason="still bad", attempts=2)])
    assert again == first  # one open letter per record
    dl = store.dlq_get(first)
    assert dl is not None and dl.attempts == 3 and dl.reason == "still bad"
    assert dl.payload == {"external_id": "c1", "phone_number": "+1"} and dl.field == "phone_number"
    assert dl.status == "open" and dl.correlation_id == "corr-c1" and dl.first_failed_at <= dl.last_failed_at
    other = store.dlq_add([letter("c2"), letter("c3")])
    assert [d.record_key for d in store.dlq_list()] == ["c1", "c2", "c3"]
    assert store.dlq_resolve([first], "replayed") == 1
    assert store.dlq_resolve([first], "discarded") == 0  # already resolved
    assert store.dlq_counts() == {"open": 2, "replayed": 1, "discarded": 0}
    assert [d.record_key for d in store.dlq_list(record_key="c2")] == ["c2"]
    assert len(store.dlq_list(status=None)) == 3
    # a record failing again after its letter was resolved gets a new one
    [new] = store.dlq_add([letter("c1")])
    assert new not in (first, *other)
    with pytest.raises(InvalidValueError):
        store.dlq_resolve([new], "open")
    with pytest.raises(InvalidValueError):
        store.dlq_list(status="closed")
    assert store.dlq_get(10**9) is None


def test_sync_log_query_and_retention(store: StateStore) -> None:
    t0 = now()
    old = LogEntry(
        t0 - timedelta(days=40),
        "marketing",
        "POST",
        "https://a.klaviyo.com/api/profile-import",
        201,
        12.5,
        correlation_id="m-1",
        kind="customer",
        record_key="c1",
    )
    new = LogEntry(
        t0,
        "marketing",
        "POST",
        "https://a.klaviyo.com/api/profile-import",
        503,
        8.0,
        attempt=2,
        correlation_id="m-1",
        kind="customer",
        record_key="c1",
        error="503",
    )
    other = LogEntry(t0, "shop", "GET", "https://api/p/customers", 200, 3.0, correlation_id="m-2")
    assert store.log_add([old, new, other]) == 3
    rows = store.log_query(correlation_id="m-1")
    assert [(r.status, r.attempt) for r in rows] == [(201, 1), (503, 2)]
    assert [r.url for r in store.log_query(kind="customer", record_key="c1")] == [old.url, new.url]
    assert store.log_purge(t0 - timedelta(days=30)) == 1
    assert len(store.log_query(correlation_id="m-1")) == 1
    assert store.log_query(connection="shop")[0].latency_ms == 3.0


def test_inbox_backoff_hides_events_until_due(store: StateStore) -> None:
    store.inbox_add("shop", [InboxEventIn("e1", "customer", "c1", "X", now())])
    [row] = store.inbox_pending("shop")
    store.inbox_mark([row.id], "pending", "503", not_before=now() + timedelta(hours=1))
    assert store.inbox_pending("shop") == []
    store.inbox_mark([row.id], "pending", "503", not_before=now() - timedelta(seconds=1))
    [due] = store.inbox_pending("shop")
    assert due.attempts == 2
