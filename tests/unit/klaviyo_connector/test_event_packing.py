"""Packing events into bulk_create_events requests: limits, grouping, duplicates, pointers (no I/O)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from crmsync.connectors.klaviyo import event_bulk
from crmsync.connectors.klaviyo.event_bulk import MAX_BYTES, MAX_EVENTS, pack_events
from crmsync.connectors.klaviyo.events import event_field, event_resource
from crmsync.errors import RecordValidationError
from crmsync.ports import Projection


def _event(n: int | str, profile: dict[str, str] | None = None, **payload: Any) -> Projection:
    body: dict[str, Any] = {
        "metric": "Placed Order",
        "time": "2026-11-23T10:00:00Z",
        "unique_id": f"o-{n}",
        "value": 10.0,
        "value_currency": "EUR",
        "properties": {"n": n},
        "profile": profile if profile is not None else {"external_id": f"c-{n}"},
        **payload,
    }
    return Projection("event", str(body["unique_id"]), body)


def _events_in(body: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(profile attributes, event attributes) of every event in a request body."""
    doc = orjson.loads(body)
    assert doc["data"]["type"] == "event-bulk-create-job"
    out = []
    for entry in doc["data"]["attributes"]["events-bulk-create"]["data"]:
        assert entry["type"] == "event-bulk-create"
        profile = entry["attributes"]["profile"]["data"]["attributes"]
        out.extend((profile, e["attributes"]) for e in entry["attributes"]["events"]["data"])
    return out


def test_requests_hold_at_most_1000_events_and_measure_their_bytes_exactly() -> None:
    items = [_event(n, {"external_id": f"c-{n % 7}"}) for n in range(2_500)]
    requests, refused, duplicates = pack_events(items, "kl")
    assert (refused, duplicates) == ({}, {})
    assert [r.count for r in requests] == [1_000, 1_000, 500]
    for request in requests:
        body = request.body()
        assert len(body) == request.size
        assert len(_events_in(body)) == request.count
        # one entry per profile per request
        profiles = [p["external_id"] for p, _ in _events_in(body)]
        assert len(orjson.loads(body)["data"]["attributes"]["events-bulk-create"]["data"]) == len(
            set(profiles)
        )
    sent = sorted(int(e["unique_id"][2:]) for r in requests for _, e in _events_in(r.body()))
    assert sent == list(range(2_500))


def test_requests_stay_under_the_byte_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_bulk, "MAX_BYTES", 20_000)
    items = [_event(n, properties={"blob": "x" * 900}) for n in range(100)]
    requests, refused, _ = pack_events(items, "kl")
    assert not refused and len(requests) > 1
    assert all(len(r.body()) == r.size <= 20_000 for r in requests)
    assert sum(r.count for r in requests) == 100
    assert requests[0].size > 20_000 - 1_200  # filled up, not split early


def test_exact_duplicates_are_packed_once_and_remembered() -> None:
    items = [_event(1), _event(2), _event(1), _event(1, {"external_id": "c-1"}, properties={"changed": True})]
    requests, _, duplicates = pack_events(items, "kl")
    assert duplicates == {2: 0, 3: 0}
    assert [r.count for r in requests] == [2]


def test_the_same_unique_id_for_two_profiles_is_never_in_one_request() -> None:
    """Klaviyo may resolve two entries to one profile; a repeat would fail the whole request."""
    items = [
        _event("same", {"external_id": "c-1"}),
        _event("same", {"email": "ann@example.com"}),
        _event("other", {"external_id": "c-2"}),
        _event("same", {"email": "ANN@example.com"}),  # the same profile as the second: a duplicate
    ]
    requests, _, duplicates = pack_events(items, "kl")
    assert duplicates == {3: 1}
    assert sorted(r.count for r in requests) == [1, 2]
    for request in requests:
        keys = [
            (e["metric"]["data"]["attributes"]["name"], e["unique_id"]) for _, e in _events_in(request.body())
        ]
        assert len(keys) == len(set(keys))


def test_events_that_cannot_be_sent_are_refused_locally() -> None:
    no_profile = _event(1, {})
    no_metric = _event(2, metric="  ")
    long_metric = _event(3, metric="m" * 128)
    huge = _event(4, properties={"blob": "x" * MAX_BYTES})
    from_identifiers = Projection(
        "event", "o-5", {**_event(5).payload, "profile": {}}, identifiers={"email": "e@example.com"}
    )
    requests, refused, _ = pack_events([no_profile, no_metric, long_metric, huge, from_identifiers], "kl")
    assert set(refused) == {0, 1, 2, 3}
    fields = {i: getattr(r.error, "field", None) for i, r in refused.items()}
    assert fields == {0: "profile", 1: "metric", 2: "metric", 3: "properties"}
    assert all(isinstance(r.error, RecordValidationError) and r.calls == 0 for r in refused.values())
    assert [p for p, _ in _events_in(requests[0].body())] == [{"email": "e@example.com"}]


def test_locate_maps_pointers_to_events_and_entries() -> None:
    items = [
        _event(0, {"external_id": "a"}),
        _event(1, {"external_id": "a"}),
        _event(2, {"external_id": "b"}),
    ]
    [request] = pack_events(items, "kl")[0]
    root = "/data/attributes/events-bulk-create/data"
    assert request.locate(f"{root}/0/attributes/events/data/1/attributes/time") == ([1], "time")
    assert request.locate(f"{root}/1/attributes/events/data/0/attributes/metric/data/attributes/name") == (
        [2],
        "metric.name",
    )
    assert request.locate(f"{root}/0/attributes/profile/data/attributes/email") == ([0, 1], "profile.email")
    assert request.locate(f"{root}/5/attributes/events/data/0") is None
    assert request.locate(f"{root}/0/attributes/events/data/9/attributes/time") is None
    assert request.locate("/data/attributes") is None
    assert request.locate(None) is None
    smaller = request.without({1})
    assert smaller.indexes == [0, 2] and len(smaller.body()) == smaller.size


def test_single_event_body_and_field_names() -> None:
    item = _event(1, {"external_id": "c-1", "email": "c1@example.com"}, value=None, value_currency=None)
    resource = event_resource(item)
    attributes = resource["attributes"]
    assert resource["type"] == "event"
    assert "value" not in attributes and "value_currency" not in attributes
    assert attributes["metric"] == {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}}
    assert attributes["profile"]["data"] == {
        "type": "profile",
        "attributes": {"external_id": "c-1", "email": "c1@example.com"},
    }
    assert attributes["unique_id"] == "o-1" and attributes["time"] == "2026-11-23T10:00:00Z"
    no_unique = Projection("event", "rk-9", {**item.payload, "unique_id": None})
    assert event_resource(no_unique)["attributes"]["unique_id"] == "rk-9"
    assert event_field("/data/attributes/time") == "time"
    assert event_field("/data/attributes/profile/data/attributes/email") == "profile.email"
    assert event_field("/data") is None
    assert MAX_EVENTS == 1_000
