"""Data-privacy deletion jobs: 202, the profile with its events and memberships gone, validation, 429."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._consent_support import DELETION, SUBSCRIBE, deletion_doc, entry, list_doc, subscribe_doc
from ._support import HEADERS, Client, event_doc, only_error


async def test_deletion_by_email_removes_profile_events_memberships_and_consent(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    _, created, _ = await http.post("/api/lists", list_doc("News"))
    list_id = created["data"]["id"]
    body = subscribe_doc([entry(email="gone@example.com")], list_id=list_id)
    assert (await http.post(SUBSCRIBE, body))[0] == 202
    assert (await http.post("/api/events", event_doc(profile={"email": "gone@example.com"})))[0] == 202
    keep = emulator.seed_profile(email="keep@example.com")
    [gone] = emulator.find_profiles(email="gone@example.com")
    assert len(emulator.events) == 1 and emulator.lists[list_id].members

    status, doc, _ = await http.post(DELETION, deletion_doc(email="Gone@Example.com"))
    assert (status, doc) == (202, None)
    [request] = emulator.deletion_requests
    assert (request["identifier"], request["value"], request["status"]) == (
        "email",
        "Gone@Example.com",
        "complete",
    )
    assert request["deleted_profile_ids"] == [gone["id"]]
    status, doc, _ = await http.get(f"/api/profiles/{gone['id']}")
    assert status == 404
    assert list(emulator.profiles) == [keep] and emulator.events == []
    assert not emulator.lists[list_id].members
    status, doc, _ = await http.get(f"/api/lists/{list_id}/profiles")
    assert doc["data"] == []
    # the identifier is free again: a new profile gets a new id
    again = await http.create_profile(email="gone@example.com")
    assert again["id"] != gone["id"]


async def test_deletion_by_id_and_by_phone_and_unknown_identifiers(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    emulator.set_rate_limits(False)  # four requests: over the 3/s burst of this operation
    by_id = emulator.seed_profile(email="i@example.com")
    by_phone = emulator.seed_profile(phone_number="+15005550020")
    for body in (
        deletion_doc(profile_id=by_id),
        deletion_doc(phone_number="+15005550020"),
        deletion_doc(email="stranger@example.com"),
        deletion_doc(profile_id="01NOPE0000000000000000000A"),
    ):
        assert (await http.post(DELETION, body))[0] == 202
    assert len(emulator.profiles) == 0
    deleted = [r["deleted_profile_ids"] for r in emulator.deletion_requests]
    assert deleted == [[by_id], [by_phone], [], []]
    assert [r["identifier"] for r in emulator.deletion_requests] == ["id", "phone_number", "email", "id"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (deletion_doc(), "/data/attributes/profile/data"),
        (deletion_doc(email="a@example.com", phone_number="+15005550006"), "/data/attributes/profile/data"),
        (deletion_doc(email="a@example.com", profile_id="01X"), "/data/attributes/profile/data"),
        (deletion_doc(email="broken"), "/data/attributes/profile/data/attributes/email"),
        (deletion_doc(phone_number="555"), "/data/attributes/profile/data/attributes/phone_number"),
        ({"data": {"type": "data-privacy-deletion-job", "attributes": {}}}, "/data/attributes/profile"),
    ],
)
async def test_deletion_needs_exactly_one_valid_identifier(
    http: Client, emulator: KlaviyoEmulator, body: dict, pointer: str
) -> None:
    status, doc, _ = await http.post(DELETION, body)
    assert status == 400 and only_error(doc)["source"]["pointer"] == pointer
    assert emulator.deletion_requests == []


async def test_deletion_is_asynchronous_with_a_processing_lag() -> None:
    emulator = KlaviyoEmulator(processing_lag_seconds=0.05)
    await emulator.start()
    try:
        pid = emulator.seed_profile(email="later@example.com")
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            http = Client(session, emulator.base_url)
            assert (await http.post(DELETION, deletion_doc(email="later@example.com")))[0] == 202
            assert pid in emulator.profiles and emulator.deletion_requests[0]["status"] == "queued"
            await asyncio.sleep(0.15)
        assert pid not in emulator.profiles and emulator.deletion_requests[0]["status"] == "complete"
    finally:
        await emulator.stop()


async def test_deletion_rate_limit_is_3_per_second(http: Client, emulator: KlaviyoEmulator) -> None:
    # request_profile_deletion: burst 3/s. 7 quick calls span at most two 1 s windows.
    results = [await http.post(DELETION, deletion_doc(email=f"r{i}@example.com")) for i in range(7)]
    statuses = [status for status, _, _ in results]
    assert 429 in statuses and statuses[0] == 202
    _, doc, headers = next(r for r in results if r[0] == 429)
    assert only_error(doc)["code"] == "throttled" and int(headers["Retry-After"]) >= 1
    assert results[0][2]["RateLimit-Limit"] == "3"
    assert len(emulator.deletion_requests) == statuses.count(202)
