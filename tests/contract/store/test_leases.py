"""Leases and inbox claims: per-record exclusivity across workers, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

from crmsync.store import InboxEventIn, StateStore

from .conftest import now

TTL = timedelta(seconds=30)


def events(n_resources: int, per: int = 2) -> list[InboxEventIn]:
    return [
        InboxEventIn(f"e{r}-{i}", "customer", f"c{r}", "X", now(), sequence=i)
        for r in range(n_resources)
        for i in range(per)
    ]


def test_leases_are_exclusive_until_released_or_expired(store: StateStore) -> None:
    assert store.lease_acquire(["a", "b"], "w1", TTL) == ["a", "b"]
    assert store.lease_acquire(["a", "c"], "w2", TTL) == ["c"]
    assert sorted(store.lease_acquire(["a", "b"], "w1", TTL)) == ["a", "b"]  # renewal by the owner
    store.lease_release(["a"], "w2")  # not w2's: nothing happens
    assert store.lease_holders()["a"] == "w1"
    store.lease_release(["a"], "w1")
    assert store.lease_acquire(["a"], "w2", TTL) == ["a"]
    assert store.lease_acquire(["x"], "dead-worker", timedelta(seconds=-1)) == ["x"]  # already expired
    assert store.lease_acquire(["x"], "w3", TTL) == ["x"]  # an expired lease changes hands


def test_claims_split_the_inbox_between_workers_per_resource(store: StateStore) -> None:
    store.inbox_add("shop", events(10))
    rows1, names1 = store.inbox_claim("shop", "customer", "w1", TTL, max_resources=4)
    rows2, _ = store.inbox_claim("shop", "customer", "w2", TTL, max_resources=100)
    r1, r2 = {r.resource_id for r in rows1}, {r.resource_id for r in rows2}
    assert len(r1) == 4 and len(r2) == 6 and not (r1 & r2)
    assert len(rows1) == 8 and len(rows2) == 12  # every due event of a claimed resource comes along
    assert store.inbox_claim("shop", "customer", "w3", TTL) == ([], [])
    store.inbox_mark([r.id for r in rows1], "done")
    store.lease_release(names1, "w1")
    store.inbox_add("shop", [InboxEventIn("late", "customer", "c0", "X", now(), sequence=9)])
    rows3, _ = store.inbox_claim("shop", "customer", "w3", TTL)
    assert [r.event_id for r in rows3] == ["late"]


def test_concurrent_claimers_never_share_a_resource(store: StateStore) -> None:
    store.inbox_add("shop", events(200, per=1))
    seen: dict[str, list[str]] = {}
    lock = threading.Lock()

    def worker(name: str) -> None:
        rows, _ = store.inbox_claim("shop", "customer", name, TTL, max_resources=30)
        with lock:
            for r in rows:
                seen.setdefault(r.resource_id, []).append(name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(owners) == 1 for owners in seen.values())  # never two workers on one resource
    # six workers x 30 resources; on PostgreSQL a claimer that keeps finding rows locked by the
    # others (SKIP LOCKED) may come back with fewer this round and takes them the next
    assert 150 <= len(seen) <= 180


def test_keys_with_many_events_still_fill_the_claim(store: StateStore) -> None:
    store.inbox_add("shop", events(12, per=9))  # more events per key than rows locked per key
    rows, names = store.inbox_claim("shop", "customer", "w1", TTL, max_resources=10)
    assert len(names) == 10
    assert len(rows) == 90 and {r.resource_id for r in rows} == {f"c{i}" for i in range(10)}


def test_postgresql_claims_skip_rows_locked_by_another_worker(store: StateStore) -> None:
    """A worker in the middle of claiming (rows locked FOR UPDATE) does not block the others."""
    if store.backend != "postgresql":
        return  # SQLite has one writer at a time: there is no row lock to skip
    import sqlalchemy as sa

    from crmsync.store.schema import inbox

    store.inbox_add("shop", events(10, per=1))
    with store._engine.connect() as other:  # another worker's open claim transaction
        other.execute(sa.text("SET lock_timeout = '5s'"))
        locked = other.execute(
            sa.select(inbox.c.resource_id).order_by(inbox.c.id).limit(3).with_for_update()
        ).all()
        assert [r[0] for r in locked] == ["c0", "c1", "c2"]
        done = threading.Event()
        got: list[str] = []

        def claim() -> None:
            rows, _ = store.inbox_claim("shop", "customer", "w2", TTL, max_resources=4)
            got.extend(r.resource_id for r in rows)
            done.set()

        thread = threading.Thread(target=claim)
        thread.start()
        assert done.wait(5), "the claim waited for another worker's row locks"
        thread.join()
        other.rollback()
    assert got == ["c3", "c4", "c5", "c6"]
