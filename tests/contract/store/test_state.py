"""Positions (forward only), checkpoints and stats."""

from __future__ import annotations

import threading

import pytest

from crmsync.store import DeliveredWrite, InboxEventIn, InvalidValueError, StateStore
from tests.contract.store.conftest import now


def test_positions_start_empty_and_advance(store: StateStore) -> None:
    assert store.get_positions("ct", "customer", ["r1"]) == {}
    assert store.get_positions("ct", "customer", []) == {}
    store.advance_positions("ct", "customer", {"r1": 3, "r2": 10})
    assert store.get_positions("ct", "customer", ["r1", "r2", "r3"]) == {"r1": 3, "r2": 10}
    store.advance_positions("ct", "customer", {})


def test_positions_only_move_forward(store: StateStore) -> None:
    store.advance_positions("ct", "customer", {"r1": 5, "r2": 5})
    store.advance_positions("ct", "customer", {"r1": 4, "r2": 6, "r3": 1})
    store.advance_positions("ct", "customer", {"r1": 5})
    assert store.get_positions("ct", "customer", ["r1", "r2", "r3"]) == {"r1": 5, "r2": 6, "r3": 1}
    store.advance_positions("ct", "customer", {"r1": 2**62})
    assert store.get_positions("ct", "customer", ["r1"]) == {"r1": 2**62}


def test_positions_are_per_source_and_kind(store: StateStore) -> None:
    store.advance_positions("ct", "customer", {"r1": 5})
    store.advance_positions("ct", "order", {"r1": 9})
    store.advance_positions("shop2", "customer", {"r1": 1})
    assert store.get_positions("ct", "customer", ["r1"]) == {"r1": 5}
    assert store.get_positions("ct", "order", ["r1"]) == {"r1": 9}
    assert store.get_positions("shop2", "customer", ["r1"]) == {"r1": 1}


def test_positions_refuse_non_integers(store: StateStore) -> None:
    with pytest.raises(InvalidValueError):
        store.advance_positions("ct", "customer", {"r1": "5"})
    with pytest.raises(InvalidValueError):
        store.advance_positions("ct", "customer", {"r1": True})
    assert store.get_positions("ct", "customer", ["r1"]) == {}


def test_concurrent_advances_keep_the_maximum(store_url: str) -> None:
    stores = [StateStore.open(store_url) for _ in range(3)]
    resources = [f"r{i}" for i in range(200)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for step in range(5):
                seq = step * 10 + n  # interleaved: each writer sometimes behind, sometimes ahead
                stores[n].advance_positions("ct", "customer", {r: seq for r in resources})
                stores[n].advance_positions("ct", "customer", {r: seq - 7 for r in resources})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(stores))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert set(stores[0].get_positions("ct", "customer", resources).values()) == {42}
    finally:
        for s in stores:
            s.close()


def test_many_positions(store: StateStore) -> None:
    positions = {f"r{i}": i for i in range(41_000)}
    store.advance_positions("ct", "customer", positions)
    assert store.get_positions("ct", "customer", list(positions)) == positions


def test_checkpoints(store: StateStore) -> None:
    assert store.get_checkpoint("ct:messages") is None
    cursor = {"last_modified": "2024-05-01T12:00:00.000Z", "ids": ["a", "b"], "note": "naïve ✓", "n": 3}
    store.set_checkpoint("ct:messages", cursor)
    assert store.get_checkpoint("ct:messages") == cursor
    store.set_checkpoint("ct:messages", {"page": None})
    assert store.get_checkpoint("ct:messages") == {"page": None}
    store.set_checkpoint("bulk:job-1", {})
    assert store.get_checkpoint("bulk:job-1") == {}
    assert store.delete_checkpoint("bulk:job-1") is True
    assert store.delete_checkpoint("bulk:job-1") is False
    assert store.get_checkpoint("bulk:job-1") is None
    with pytest.raises(InvalidValueError):
        store.set_checkpoint("x", ["not", "an", "object"])


def test_stats_count_every_table(store: StateStore) -> None:
    assert store.stats() == {
        "records": 0,
        "identity_links": 0,
        "delivered": 0,
        "positions": 0,
        "checkpoints": 0,
        "inbox_pending": 0,
        "inbox_done": 0,
        "inbox_stale": 0,
        "inbox_failed": 0,
    }
    ids = store.ensure_records("customer", "commercetools", "id", ["a", "b"])
    store.link(ids["a"], "customer", "email", "email", "a@example.com")
    store.save_delivered("t", [DeliveredWrite(ids["a"], {}, "h")])
    store.advance_positions("ct", "customer", {"a": 1})
    store.set_checkpoint("c", {})
    events = [InboxEventIn(f"e{i}", "customer", "a", "CustomerUpdated", now()) for i in range(3)]
    store.inbox_add("ct", events)
    store.inbox_mark([store.inbox_pending("ct")[0].id], "failed", "x")
    assert store.stats() == {
        "records": 2,
        "identity_links": 3,
        "delivered": 1,
        "positions": 1,
        "checkpoints": 1,
        "inbox_pending": 2,
        "inbox_done": 0,
        "inbox_stale": 0,
        "inbox_failed": 1,
    }
