"""POST /api/event-bulk-create-jobs: 202, profiles and events written, limits, repeated unique_id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._catalog_support import bulk_event, event_entry, events_doc
from ._support import Client, event_doc, only_error

PATH = "/api/event-bulk-create-jobs"
ROOT = "/data/attributes/events-bulk-create/data"


async def test_bulk_create_answers_202_and_writes_profiles_and_events(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    existing = await http.create_profile(email="old@example.com", first_name="Before")
    body = events_doc(
        event_entry(
            {"email": "Old@Example.com", "first_name": "After"},
            bulk_event(unique_id="o-1", value=12.5, value_currency="EUR", properties={"sku": "A"}),
            bulk_event("Viewed Product", unique_id="v-1", time="2024-05-01T10:00:00.123Z"),
        ),
        event_entry({"external_id": "ext-9", "properties": {"tier": "gold"}}, bulk_event(unique_id="o-2")),
    )
    status, doc, _ = await http.post(PATH, body)
    assert (status, doc) == (202, None)

    assert emulator.profiles[existing["id"]]["first_name"] == "After"  # matched by email, updated
    created = emulator.find_profiles(external_id="ext-9")
    assert len(created) == 1 and created[0]["properties"] == {"tier": "gold"}
    first = emulator.find_events(profile_email="old@example.com", metric="Placed Order")
    assert [(e["unique_id"], e["value"], e["value_currency"], e["properties"]) for e in first] == [
        ("o-1", 12.5, "EUR", {"sku": "A"})
    ]
    viewed = emulator.find_events(metric="Viewed Product", unique_id="v-1")
    assert viewed[0]["time"].isoformat() == "2024-05-01T10:00:00+00:00"  # truncated to the second
    assert [e["unique_id"] for e in emulator.find_events(profile_external_id="ext-9")] == ["o-2"]
    assert emulator.request_count("bulk_create_events", 202) == 1


async def test_events_are_deduplicated_across_single_create_and_bulk(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    profile = {"email": "dedup@example.com"}
    status, _, _ = await http.post("/api/events", event_doc(profile=profile, unique_id="order-1"))
    assert status == 202
    body = events_doc(
        event_entry(
            profile,
            bulk_event(unique_id="order-1", properties={"again": True}),  # same profile+metric: dropped
            bulk_event("Refunded Order", unique_id="order-1"),  # other metric: kept
        )
    )
    assert (await http.post(PATH, body))[0] == 202
    assert (await http.post(PATH, body))[0] == 202  # replaying the whole request changes nothing
    events = emulator.find_events(profile_email="dedup@example.com")
    assert sorted((e["metric_name"], e["unique_id"]) for e in events) == [
        ("Placed Order", "order-1"),
        ("Refunded Order", "order-1"),
    ]
    placed = emulator.find_events(metric="Placed Order", unique_id="order-1")
    assert placed[0]["properties"] == {}  # the first (single) event stands


async def test_without_unique_id_the_time_to_the_second_deduplicates(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    moment = "2025-01-02T03:04:05+00:00"
    body = events_doc(event_entry({"email": "t@example.com"}, bulk_event(time=moment)))
    await http.post(PATH, body)
    await http.post(PATH, events_doc(event_entry({"email": "t@example.com"}, bulk_event(time=moment))))
    events = emulator.find_events(profile_email="t@example.com")
    assert [e["unique_id"] for e in events] == [str(1735787045)]


async def test_repeated_unique_id_for_same_profile_and_metric_fails_the_whole_request(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    body = events_doc(
        event_entry(
            {"email": "a@example.com"}, bulk_event(unique_id="u-1"), bulk_event("Other", unique_id="u-1")
        ),
        event_entry({"email": "fresh@example.com"}, bulk_event(unique_id="u-9")),
        # same (not yet existing) profile by email, same metric, same unique_id as entry 0's first event
        event_entry({"email": "A@example.com", "first_name": "x"}, bulk_event(unique_id="u-1")),
    )
    status, doc, _ = await http.post(PATH, body)
    assert status == 400
    error = only_error(doc)
    assert error["code"] == "invalid"
    assert error["source"]["pointer"] == f"{ROOT}/2/attributes/events/data/0/attributes/unique_id"
    assert f"{ROOT}/0/attributes/events/data/0" in error["detail"]
    assert emulator.events == [] and len(emulator.profiles) == 0  # no events were processed


async def test_repeated_unique_id_detected_through_an_existing_profile(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    profile = await http.create_profile(email="known@example.com", external_id="K-1")
    body = events_doc(
        event_entry({"external_id": "K-1"}, bulk_event(unique_id="same")),
        event_entry({}, bulk_event(unique_id="same"), profile_id=profile["id"]),
    )
    status, doc, _ = await http.post(PATH, body)
    assert status == 400
    assert only_error(doc)["source"]["pointer"] == f"{ROOT}/1/attributes/events/data/0/attributes/unique_id"
    assert emulator.events == []


async def test_at_most_1000_events_per_request(http: Client, emulator: KlaviyoEmulator) -> None:
    events = [bulk_event(unique_id=f"e{i}") for i in range(500)]
    over = events_doc(
        event_entry({"email": "x@example.com"}, *events),
        event_entry({"email": "y@example.com"}, *events, bulk_event(unique_id="extra")),
    )
    status, doc, _ = await http.post(PATH, over)
    assert status == 400
    error = only_error(doc)
    assert error["source"]["pointer"] == ROOT and "1001" in error["detail"]
    assert emulator.events == []
    exact = events_doc(
        event_entry({"email": "x@example.com"}, *events), event_entry({"email": "y@example.com"}, *events)
    )
    assert (await http.post(PATH, exact))[0] == 202
    assert len(emulator.events) == 1000


async def test_payload_over_5mb_is_413(http: Client) -> None:
    filler = "x" * 60_000
    entries = [
        event_entry(
            {"email": f"p{i}@example.com"}, bulk_event(properties={f"k{j}": filler for j in range(10)})
        )
        for i in range(9)
    ]
    raw = json.dumps(events_doc(*entries)).encode()
    assert len(raw) > 5 * 1024 * 1024
    status, doc, _ = await http.call("POST", PATH, raw=raw)
    assert status == 413
    assert only_error(doc)["code"] == "request_too_large"


E0 = f"{ROOT}/0/attributes/events/data/0/attributes"
P0 = f"{ROOT}/0/attributes/profile/data"


def _mutate(path: str, value: Any) -> dict[str, Any]:
    """A valid one-event request with ``value`` set at ``path`` (JSON pointer below the root)."""
    body = events_doc(event_entry({"email": "v@example.com"}, bulk_event(unique_id="v")))
    parts = path.strip("/").split("/")
    node: Any = body
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return body


_DELETE = object()
CASES = [
    ("/data/attributes/events-bulk-create", _DELETE, "/data/attributes/events-bulk-create"),
    (ROOT, [], ROOT),
    (f"{ROOT}/0/type", "event", f"{ROOT}/0/type"),
    (f"{P0}/attributes", {"first_name": "no identifier"}, f"{P0}/attributes"),
    (f"{P0}/attributes/email", "not-an-email", f"{P0}/attributes/email"),
    (f"{P0}/attributes/phone_number", "12345", f"{P0}/attributes/phone_number"),
    (f"{P0}/attributes/bogus", "x", f"{P0}/attributes/bogus"),
    (f"{ROOT}/0/attributes/events/data", [], f"{ROOT}/0/attributes/events/data"),
    (f"{E0}/properties", _DELETE, f"{E0}/properties"),
    (f"{E0}/properties", {f"p{i}": i for i in range(401)}, f"{E0}/properties"),
    (f"{E0}/properties", {"big": "y" * (100 * 1024 + 1)}, f"{E0}/properties"),
    (f"{E0}/metric/data/attributes/name", "", f"{E0}/metric/data/attributes/name"),
    (f"{E0}/metric/data/attributes/name", "m" * 128, f"{E0}/metric/data/attributes/name"),
    (f"{E0}/metric/data/type", "event", f"{E0}/metric/data/type"),
    (f"{E0}/time", "yesterday", f"{E0}/time"),
    (f"{E0}/time", "1989-12-31T00:00:00Z", f"{E0}/time"),
    (f"{E0}/value", "10", f"{E0}/value"),
    (f"{E0}/unique_id", 7, f"{E0}/unique_id"),
    (f"{E0}/backfill", "yes", f"{E0}/backfill"),
]


@pytest.mark.parametrize(
    ("path", "value", "pointer"), CASES, ids=[c[2].rsplit("/", 1)[-1] + f"-{i}" for i, c in enumerate(CASES)]
)
async def test_validation_errors_name_the_member(
    http: Client, emulator: KlaviyoEmulator, path: str, value: Any, pointer: str
) -> None:
    status, doc, _ = await http.post(PATH, _mutate(path, value))
    assert status == 400, doc
    error = only_error(doc)
    assert (error["code"], error["source"]) == ("invalid", {"pointer": pointer})
    assert emulator.events == [] and len(emulator.profiles) == 0


async def test_wrong_job_type_is_409_and_no_get_endpoint_exists(http: Client) -> None:
    body = events_doc(event_entry({"email": "a@example.com"}, bulk_event()))
    body["data"]["type"] = "event"
    status, doc, _ = await http.post(PATH, body)
    assert status == 409 and only_error(doc)["source"] == {"pointer": "/data/type"}
    status, doc, _ = await http.get(PATH)  # the spec defines no GET for these jobs
    assert status == 405 and only_error(doc)["code"] == "method_not_allowed"


async def test_bulk_events_are_readable_with_get_events_filters(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    body = events_doc(
        event_entry(
            {"email": "f@example.com"},
            *[bulk_event(unique_id=f"d{d}", time=f"2024-03-0{d}T12:00:00Z") for d in range(1, 6)],
        ),
        event_entry({"email": "g@example.com"}, bulk_event(unique_id="other", time="2024-03-03T12:00:00Z")),
    )
    assert (await http.post(PATH, body))[0] == 202
    profile_id = emulator.find_profiles(email="f@example.com")[0]["id"]
    metric_id = next(iter(emulator.metrics))
    flt = (
        f'equals(metric_id,"{metric_id}"),equals(profile_id,"{profile_id}"),'
        "greater-or-equal(datetime,2024-03-02T00:00:00Z),less-than(datetime,2024-03-05T00:00:00Z)"
    )
    status, doc, _ = await http.get("/api/events", filter=flt, sort="-datetime", include="profile")
    assert status == 200
    assert [e["attributes"]["datetime"][:10] for e in doc["data"]] == [
        "2024-03-04",
        "2024-03-03",
        "2024-03-02",
    ]
    assert [p["id"] for p in doc["included"]] == [profile_id]
    status, doc, _ = await http.get("/api/events", filter='equals(unique_id,"d1")')
    assert status == 400  # not an allowed get_events filter field in the spec
    assert only_error(doc)["source"] == {"parameter": "filter"}


async def test_bulk_create_events_is_rate_limited_10_per_second(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    body = events_doc(event_entry({"email": "rl@example.com"}, bulk_event(unique_id="rl")))
    results = [await http.post(PATH, body) for _ in range(21)]
    refused = [(doc, headers) for status, doc, headers in results if status == 429]
    assert refused, [status for status, _, _ in results]
    doc, headers = refused[0]
    assert int(headers["Retry-After"]) >= 1 and "RateLimit-Limit" not in headers
    assert only_error(doc)["code"] == "throttled"
    accepted = [headers for status, _, headers in results if status == 202]
    assert accepted[0]["RateLimit-Limit"] == "10"
    assert emulator.request_count("bulk_create_events", 429) == len(refused)
