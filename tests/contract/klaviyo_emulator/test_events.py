"""Events: 202 empty body, validation, profile create/update, dedupe, metrics, get_events filters."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import Client, event_doc, only_error


async def _metric_id(http: Client, name: str) -> str:
    status, doc, _ = await http.get("/api/metrics")
    assert status == 200
    return next(m["id"] for m in doc["data"] if m["attributes"]["name"] == name)


async def test_create_event_is_202_with_empty_body_and_creates_profile_and_metric(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    body = event_doc(
        profile={"email": "buyer@example.com", "first_name": "Bea"},
        properties={"OrderId": "o-1", "Items": ["a", "b"]},
        value=42.5,
        value_currency="EUR",
        unique_id="o-1",
        time="2026-01-02T03:04:05.678Z",
    )
    status, doc, _ = await http.post("/api/events", body)
    assert status == 202
    assert doc is None
    [profile] = emulator.find_profiles(email="buyer@example.com")
    assert profile["first_name"] == "Bea"
    metric_id = await _metric_id(http, "Placed Order")
    status, doc, _ = await http.get("/api/events", filter=f'equals(metric_id,"{metric_id}")')
    assert status == 200
    [event] = doc["data"]
    assert event["type"] == "event"
    assert event["attributes"]["datetime"] == "2026-01-02T03:04:05+00:00"  # truncated to the second
    assert event["attributes"]["timestamp"] == 1767323045
    assert event["attributes"]["event_properties"]["OrderId"] == "o-1"
    assert event["attributes"]["event_properties"]["$value"] == 42.5
    assert event["relationships"]["profile"]["data"] == {"type": "profile", "id": profile["id"]}
    assert event["relationships"]["metric"]["data"] == {"type": "metric", "id": metric_id}
    status, doc, _ = await http.get(f"/api/profiles/{profile['id']}")
    assert doc["data"]["attributes"]["last_event_date"] == "2026-01-02T03:04:05+00:00"


async def test_event_updates_an_existing_profile(http: Client, emulator: KlaviyoEmulator) -> None:
    existing = await http.create_profile(external_id="c-7", first_name="Old")
    status, _, _ = await http.post(
        "/api/events", event_doc(profile={"external_id": "c-7", "first_name": "New"})
    )
    assert status == 202
    assert len(emulator.profiles) == 1
    assert emulator.profiles[existing["id"]]["first_name"] == "New"
    # addressed by profile id instead of identifiers
    body = event_doc(unique_id="u2")
    body["data"]["attributes"]["profile"]["data"] = {
        "type": "profile",
        "id": existing["id"],
        "attributes": {},
    }
    status, _, _ = await http.post("/api/events", body)
    assert status == 202
    assert [e["profile_id"] for e in emulator.events] == [existing["id"], existing["id"]]
    assert len(emulator.profiles) == 1


async def test_unknown_profile_id_without_identifiers_is_400(http: Client, emulator: KlaviyoEmulator) -> None:
    body = event_doc()
    body["data"]["attributes"]["profile"]["data"] = {"type": "profile", "id": "01NOPE", "attributes": {}}
    status, doc, _ = await http.post("/api/events", body)
    assert status == 400
    assert only_error(doc)["source"] == {"pointer": "/data/attributes/profile/data/id"}
    body["data"]["attributes"]["profile"]["data"]["attributes"] = {"email": "fallback@example.com"}
    status, _, _ = await http.post("/api/events", body)
    assert status == 202  # falls back to the identifiers
    assert [p["email"] for p in emulator.find_profiles()] == ["fallback@example.com"]


async def test_same_unique_id_profile_and_metric_is_stored_once(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    for _ in range(3):
        status, _, _ = await http.post("/api/events", event_doc(unique_id="order-1"))
        assert status == 202
    await http.post("/api/events", event_doc(unique_id="order-2"))
    await http.post("/api/events", event_doc(metric="Refunded Order", unique_id="order-1"))
    await http.post("/api/events", event_doc(profile={"email": "other@example.com"}, unique_id="order-1"))
    assert len(emulator.events) == 4


async def test_without_unique_id_the_second_is_the_dedupe_key(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    at = "2026-03-01T10:00:00Z"
    await http.post("/api/events", event_doc(time=at))
    await http.post("/api/events", event_doc(time=at))
    await http.post("/api/events", event_doc(time="2026-03-01T10:00:01Z"))
    assert len(emulator.events) == 2


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (
            lambda a: a["metric"]["data"]["attributes"].pop("name"),
            "/data/attributes/metric/data/attributes/name",
        ),
        (lambda a: a.pop("metric"), "/data/attributes/metric"),
        (lambda a: a.pop("properties"), "/data/attributes/properties"),
        (
            lambda a: a["profile"]["data"].update(attributes={"first_name": "x"}),
            "/data/attributes/profile/data/attributes",
        ),
        (
            lambda a: a["profile"]["data"]["attributes"].update(email="bad"),
            "/data/attributes/profile/data/attributes/email",
        ),
        (lambda a: a.update(time="yesterday"), "/data/attributes/time"),
        (lambda a: a.update(time="1985-01-01T00:00:00Z"), "/data/attributes/time"),
        (lambda a: a.update(time="2099-01-01T00:00:00Z"), "/data/attributes/time"),
        (lambda a: a.update(value="12"), "/data/attributes/value"),
        (lambda a: a.update(value=True), "/data/attributes/value"),
        (lambda a: a.update(properties={f"p{i}": i for i in range(401)}), "/data/attributes/properties"),
    ],
)
async def test_event_validation(http: Client, emulator: KlaviyoEmulator, mutate: Any, pointer: str) -> None:
    body = event_doc()
    mutate(body["data"]["attributes"])
    status, doc, _ = await http.post("/api/events", body)
    assert status == 400, doc
    assert only_error(doc)["source"] == {"pointer": pointer}
    assert emulator.events == []
    assert len(emulator.profiles) == 0


async def test_get_events_filters_by_profile_sorts_and_pages(http: Client) -> None:
    for i in range(5):
        await http.post("/api/events", event_doc(unique_id=f"a{i}", time=f"2026-02-0{i + 1}T00:00:00Z"))
    await http.post("/api/events", event_doc(profile={"email": "z@example.com"}, unique_id="z"))
    [buyer] = (await http.get("/api/profiles", filter='equals(email,"buyer@example.com")'))[1]["data"]
    status, doc, _ = await http.get(
        "/api/events", filter=f'equals(profile_id,"{buyer["id"]}")', sort="-datetime", **{"page[size]": "2"}
    )
    assert status == 200
    stamps = [e["attributes"]["datetime"][:10] for e in doc["data"]]
    status, doc2, _ = await http.get(doc["links"]["next"])
    stamps += [e["attributes"]["datetime"][:10] for e in doc2["data"]]
    assert stamps == ["2026-02-05", "2026-02-04", "2026-02-03", "2026-02-02"]
    status, doc, _ = await http.get("/api/events", filter="greater-or-equal(datetime,2026-02-04T00:00:00Z)")
    assert {e["attributes"]["datetime"][:10] for e in doc["data"]} >= {"2026-02-04", "2026-02-05"}
    status, doc, _ = await http.get("/api/events", filter='equals(email,"z@example.com")')
    assert status == 400 and only_error(doc)["source"] == {"parameter": "filter"}
    status, doc, _ = await http.get("/api/events", **{"page[size]": "1001"})
    assert status == 400


async def test_get_event_metric_and_included(http: Client) -> None:
    await http.post("/api/events", event_doc(metric="Viewed Product"))
    status, doc, _ = await http.get("/api/events", include="metric,profile")
    event = doc["data"][0]
    included_types = sorted(r["type"] for r in doc["included"])
    assert included_types == ["metric", "profile"]
    status, one, _ = await http.get(f"/api/events/{event['id']}")
    assert status == 200 and one["data"]["id"] == event["id"]
    metric_id = event["relationships"]["metric"]["data"]["id"]
    status, metric, _ = await http.get(f"/api/metrics/{metric_id}")
    assert metric["data"]["attributes"]["name"] == "Viewed Product"
    status, _, _ = await http.get("/api/metrics/nope")
    assert status == 404
