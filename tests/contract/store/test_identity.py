"""Records and identity links: get-or-create, resolve, link, forget."""

from __future__ import annotations

import threading
import uuid

import pytest

from crmsync.store import StateStore, StoreIntegrityError, UnknownRecordError
from tests.contract.store.conftest import assert_utc, now

CT = ("customer", "commercetools", "id")


def test_ensure_records_creates_uuid4_hex_ids_once(store: StateStore) -> None:
    first = store.ensure_records(*CT, ["a", "b", "c"])
    assert set(first) == {"a", "b", "c"}
    for internal_id in first.values():
        assert uuid.UUID(hex=internal_id).version == 4
        assert internal_id == uuid.UUID(hex=internal_id).hex
    assert len(set(first.values())) == 3

    again = store.ensure_records(*CT, ["c", "b", "a", "d"])
    assert {k: again[k] for k in first} == first
    assert again["d"] not in first.values()
    assert store.stats()["records"] == 4
    assert store.stats()["identity_links"] == 4


def test_ensure_records_dedupes_input_and_accepts_empty(store: StateStore) -> None:
    assert store.ensure_records(*CT, []) == {}
    ids = store.ensure_records(*CT, ["x", "x", "y", "x"])
    assert set(ids) == {"x", "y"}
    assert store.stats()["records"] == 2


def test_namespaces_are_separate(store: StateStore) -> None:
    by_id = store.ensure_records("customer", "commercetools", "id", ["42"])
    by_key = store.ensure_records("customer", "commercetools", "key", ["42"])
    order = store.ensure_records("order", "commercetools", "id", ["42"])
    other_system = store.ensure_records("customer", "klaviyo", "id", ["42"])
    assert len({by_id["42"], by_key["42"], order["42"], other_system["42"]}) == 4
    assert store.record_kind(order["42"]) == "order"
    assert store.record_kind("0" * 32) is None


def test_resolve_and_resolve_many(store: StateStore) -> None:
    ids = store.ensure_records(*CT, ["a", "b"])
    assert store.resolve(*CT, "a") == ids["a"]
    assert store.resolve(*CT, "missing") is None
    assert store.resolve_many(*CT, ["a", "missing", "b", "a"]) == ids
    assert store.resolve_many(*CT, []) == {}
    assert store.resolve("customer", "klaviyo", "id", "a") is None


def test_link_adds_identifiers_idempotently(store: StateStore) -> None:
    internal = store.ensure_records(*CT, ["c-1"])["c-1"]
    before = now()
    assert store.link(internal, "customer", "klaviyo", "profile_id", "01HXYZ") == internal
    assert store.link(internal, "customer", "klaviyo", "profile_id", "01HXYZ") == internal
    assert store.link(internal, "customer", "email", "email", "zoë@example.com") == internal
    assert store.resolve("customer", "klaviyo", "profile_id", "01HXYZ") == internal
    assert store.resolve("customer", "email", "email", "zoë@example.com") == internal

    links = store.links(internal)
    assert {(x.system, x.id_kind, x.value) for x in links} == {
        ("commercetools", "id", "c-1"),
        ("klaviyo", "profile_id", "01HXYZ"),
        ("email", "email", "zoë@example.com"),
    }
    assert links[0].system == "commercetools"  # oldest first
    for link in links:
        assert_utc(link.created_at, near=before)
    assert store.stats()["identity_links"] == 3
    assert store.links("0" * 32) == []


def test_link_never_moves_an_identifier_to_another_record(store: StateStore) -> None:
    ids = store.ensure_records(*CT, ["one", "two"])
    assert store.link(ids["one"], "customer", "klaviyo", "profile_id", "P1") == ids["one"]
    # Already linked to "one": the owner is returned, the link stays where it was.
    assert store.link(ids["two"], "customer", "klaviyo", "profile_id", "P1") == ids["one"]
    assert store.resolve("customer", "klaviyo", "profile_id", "P1") == ids["one"]
    assert [x.value for x in store.links(ids["two"])] == ["two"]


def test_link_refuses_unknown_records_and_kind_mismatch(store: StateStore) -> None:
    with pytest.raises(UnknownRecordError, match="no record"):
        store.link("f" * 32, "customer", "klaviyo", "profile_id", "P1")
    order = store.ensure_records("order", "commercetools", "id", ["o-1"])["o-1"]
    with pytest.raises(StoreIntegrityError, match="'order'"):
        store.link(order, "customer", "klaviyo", "profile_id", "P2")
    assert store.resolve("customer", "klaviyo", "profile_id", "P2") is None


def test_link_many_is_link_in_bulk(store: StateStore) -> None:
    ids = store.ensure_records(*CT, [f"c-{i}" for i in range(3000)])
    pairs = {ids[f"c-{i}"]: f"P{i}" for i in range(3000)}
    owners = store.link_many("customer", "klaviyo", "id", pairs)
    assert owners == {f"P{i}": ids[f"c-{i}"] for i in range(3000)}
    assert store.link_many("customer", "klaviyo", "id", pairs) == owners  # idempotent
    # a value already linked elsewhere stays there; the owner is reported
    assert store.link_many("customer", "klaviyo", "id", {ids["c-1"]: "P0"}) == {"P0": ids["c-0"]}
    assert store.resolve("customer", "klaviyo", "id", "P2999") == ids["c-2999"]
    with pytest.raises(UnknownRecordError):
        store.link_many("customer", "klaviyo", "id", {"f" * 32: "PX"})
    order = store.ensure_records("order", "commercetools", "id", ["o-1"])["o-1"]
    with pytest.raises(StoreIntegrityError):
        store.link_many("customer", "klaviyo", "id", {order: "PY", ids["c-5"]: "PZ"})
    assert store.resolve("customer", "klaviyo", "id", "PZ") is None  # nothing from a refused call
    assert store.link_many("customer", "klaviyo", "id", {}) == {}


def test_add_links_links_several_id_kinds_at_once_and_keeps_first_owners(store: StateStore) -> None:
    ids = store.ensure_records(*CT, [f"c-{i}" for i in range(2500)])
    keys = {ids[f"c-{i}"]: f"key-{i}" for i in range(2500)}
    numbers = {ids[f"c-{i}"]: f"CN-{i}" for i in range(0, 2500, 2)}
    store.add_links("customer", "commercetools", {"key": keys, "customerNumber": numbers})
    store.add_links("customer", "commercetools", {"key": keys})  # idempotent
    assert store.resolve("customer", "commercetools", "key", "key-2499") == ids["c-2499"]
    assert store.resolve("customer", "commercetools", "customerNumber", "CN-2498") == ids["c-2498"]
    assert store.resolve("customer", "commercetools", "customerNumber", "CN-1") is None
    # a value already linked stays with its record, even within one call
    store.add_links("customer", "commercetools", {"key": {ids["c-7"]: "key-0", ids["c-8"]: "fresh"}})
    assert store.resolve("customer", "commercetools", "key", "key-0") == ids["c-0"]
    assert store.resolve("customer", "commercetools", "key", "fresh") == ids["c-8"]
    store.add_links("customer", "commercetools", {})


def test_forget_deletes_record_links_and_delivered(store: StateStore) -> None:
    from crmsync.store import DeliveredWrite

    ids = store.ensure_records(*CT, ["keep", "erase"])
    store.link(ids["erase"], "customer", "email", "email", "gone@example.com")
    store.save_delivered("klaviyo", [DeliveredWrite(i, {"k": 1}, "h") for i in ids.values()])

    assert store.forget([ids["erase"], ids["erase"], "0" * 32]) == 1
    assert store.resolve(*CT, "erase") is None
    assert store.resolve("customer", "email", "email", "gone@example.com") is None
    assert set(store.get_delivered("klaviyo", list(ids.values()))) == {ids["keep"]}
    stats = store.stats()
    assert (stats["records"], stats["identity_links"], stats["delivered"]) == (1, 1, 1)
    assert store.forget([]) == 0


def test_large_batches_are_chunked(store: StateStore) -> None:
    """More ids than SQLite's classic 32,766-variable limit and PostgreSQL's 65,535 parameters / 2."""
    values = [f"ext-{i}" for i in range(40_500)]
    ids = store.ensure_records(*CT, values)
    assert len(ids) == 40_500
    assert len(set(ids.values())) == 40_500
    assert store.resolve_many(*CT, values) == ids
    assert store.stats()["records"] == 40_500


def test_losing_a_race_returns_the_winners_ids_without_orphans(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic version of the race: the first read saw nothing, but another writer has since
    linked some of the ids. The insert must yield to the existing links and delete its spare records."""
    existing = store.ensure_records(*CT, ["a", "b"])
    monkeypatch.setattr(store, "resolve_many", lambda *args, **kwargs: {})
    ids = store.ensure_records(*CT, ["a", "b", "c"])
    assert ids["a"] == existing["a"]
    assert ids["b"] == existing["b"]
    monkeypatch.undo()
    assert store.resolve(*CT, "c") == ids["c"]
    assert store.stats()["records"] == 3


def _race(stores: list[StateStore], orders: list[list[str]]) -> list[dict[str, str]]:
    """Run ensure_records on every store at the same moment, one thread each."""
    barrier = threading.Barrier(len(stores))
    results: list[dict[str, str]] = [{} for _ in stores]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[n] = stores[n].ensure_records(*CT, orders[n])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def test_concurrent_get_or_create_agrees_on_ids(store_url: str) -> None:
    """Two stores (own pools, own connections) create overlapping ids at once: one record per id."""
    stores = [StateStore.open(store_url), StateStore.open(store_url)]
    try:
        for round_ in range(3):
            values = [f"r{round_}-{i}" for i in range(1_500)]
            first, second = _race(stores, [values, list(reversed(values))])
            assert first == second
            assert len(first) == len(values)
        # No orphan records: the loser of each race deleted the records it had proposed.
        assert stores[0].stats()["records"] == 3 * 1_500
    finally:
        for s in stores:
            s.close()
