"""Last delivered projection per (record, target)."""

from __future__ import annotations

import pytest

from crmsync.store import DeliveredWrite, StateStore, StoreIntegrityError
from tests.contract.store.conftest import assert_utc, now

PAYLOAD = {
    "email": "zoë.ångström@example.com",
    "first_name": "Zoë",
    "last_name": "Ångström 😀",
    "phone_number": "+4917612345678",
    "properties": {"tier": "gold", "scores": [1, 2.5, None], "nested": {"ja": "日本語", "ok": True}},
    "location": None,
    "big": 2**53,
}


def _ids(store: StateStore, n: int) -> list[str]:
    values = [f"c{i}" for i in range(n)]
    mapping = store.ensure_records("customer", "commercetools", "id", values)
    return [mapping[v] for v in values]


def test_nothing_delivered_yet(store: StateStore) -> None:
    ids = _ids(store, 2)
    assert store.get_delivered("klaviyo:profile", ids) == {}
    assert store.get_delivered("klaviyo:profile", []) == {}


def test_save_and_get_round_trip(store: StateStore) -> None:
    [rid] = _ids(store, 1)
    before = now()
    store.save_delivered(
        "klaviyo:profile",
        [DeliveredWrite(rid, PAYLOAD, "sha256:abc", source_version=2**40, target_id="01HPROFILE")],
    )
    got = store.get_delivered("klaviyo:profile", [rid, "0" * 32])
    assert set(got) == {rid}
    row = got[rid]
    assert row.internal_id == rid
    assert row.target == "klaviyo:profile"
    assert row.payload == PAYLOAD
    assert row.hash == "sha256:abc"
    assert row.source_version == 2**40
    assert row.target_id == "01HPROFILE"
    assert_utc(row.delivered_at, near=before)


def test_save_replaces_previous_state(store: StateStore) -> None:
    [rid] = _ids(store, 1)
    store.save_delivered("t", [DeliveredWrite(rid, {"v": 1}, "h1", 1, "T1")])
    first = store.get_delivered("t", [rid])[rid]
    store.save_delivered("t", [DeliveredWrite(rid, {"v": 2}, "h2", None, None)])
    second = store.get_delivered("t", [rid])[rid]
    assert (second.payload, second.hash, second.source_version, second.target_id) == (
        {"v": 2},
        "h2",
        None,
        None,
    )
    assert second.delivered_at >= first.delivered_at
    assert store.stats()["delivered"] == 1


def test_last_write_wins_within_one_call(store: StateStore) -> None:
    [rid] = _ids(store, 1)
    store.save_delivered("t", [DeliveredWrite(rid, {"v": 1}, "h1"), DeliveredWrite(rid, {"v": 2}, "h2")])
    assert store.get_delivered("t", [rid])[rid].hash == "h2"


def test_targets_are_separate(store: StateStore) -> None:
    [rid] = _ids(store, 1)
    store.save_delivered("klaviyo:profile", [DeliveredWrite(rid, {"a": 1}, "ha")])
    store.save_delivered("klaviyo:list", [DeliveredWrite(rid, {"b": 2}, "hb")])
    assert store.get_delivered("klaviyo:profile", [rid])[rid].hash == "ha"
    assert store.get_delivered("klaviyo:list", [rid])[rid].hash == "hb"
    assert store.get_delivered("other", [rid]) == {}
    store.save_delivered("t", [])
    assert store.stats()["delivered"] == 2


def test_unknown_record_is_refused_atomically(store: StateStore) -> None:
    [rid] = _ids(store, 1)
    with pytest.raises(StoreIntegrityError):
        store.save_delivered("t", [DeliveredWrite(rid, {}, "h"), DeliveredWrite("f" * 32, {}, "h")])
    assert store.get_delivered("t", [rid]) == {}


def test_many_rows(store: StateStore) -> None:
    ids = _ids(store, 12_000)
    rows = [
        DeliveredWrite(rid, {"n": n, "email": f"p{n}@example.com"}, f"h{n}", n) for n, rid in enumerate(ids)
    ]
    store.save_delivered("t", rows)
    got = store.get_delivered("t", ids)
    assert len(got) == 12_000
    assert got[ids[11_999]].payload == {"n": 11_999, "email": "p11999@example.com"}
    assert got[ids[5]].source_version == 5
