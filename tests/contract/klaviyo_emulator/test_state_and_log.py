"""Direct state access, the request log and counters, lists, restarts and the threaded server."""

from __future__ import annotations

import time
import urllib.request

import aiohttp
import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import HEADERS, Client, event_doc, job_doc, profile_doc


async def test_request_log_records_every_request(http: Client, emulator: KlaviyoEmulator) -> None:
    before = time.monotonic()
    await http.call(
        "POST", "/api/profiles", profile_doc(email="log@example.com"), headers={"X-Request-Id": "r-1"}
    )
    await http.get("/api/profiles/missing")
    first, second = emulator.request_log
    assert (first.method, first.path, first.operation_id, first.status) == (
        "POST",
        "/api/profiles",
        "create_profile",
        201,
    )
    assert first.correlation_id == "r-1"
    assert first.body_size > 0
    assert before <= first.at <= second.at
    assert abs(first.received_at - time.time()) < 5
    assert first.duration >= 0
    assert (second.operation_id, second.status) == ("get_profile", 404)


async def test_write_count_counts_2xx_writes_only(http: Client, emulator: KlaviyoEmulator) -> None:
    created = await http.create_profile(email="w@example.com")
    await http.post("/api/profiles", profile_doc(email="w@example.com"))  # 409: not a write
    await http.patch(f"/api/profiles/{created['id']}", profile_doc(created["id"], first_name="W"))
    await http.post("/api/profile-import", profile_doc(email="w2@example.com"))
    await http.post("/api/events", event_doc())
    _, job, _ = await http.post("/api/profile-bulk-import-jobs", job_doc([{"email": "w3@example.com"}]))
    await http.get("/api/profiles")
    assert emulator.write_count() == 5
    assert emulator.request_count() == 7
    assert emulator.request_count("create_profile") == 2
    assert emulator.request_count("create_profile", 409) == 1
    assert emulator.request_count(status=201) == 2
    emulator.reset_counters()
    assert (emulator.write_count(), emulator.request_count(), emulator.request_log) == (0, 0, [])
    await http.wait_job(job["data"]["id"])
    assert len(emulator.profiles) == 4  # counters reset, state kept


async def test_find_profiles_by_identifiers(http: Client, emulator: KlaviyoEmulator) -> None:
    a = await http.create_profile(email="Find@Example.com", external_id="f-1", phone_number="+14155550123")
    await http.create_profile(email="other@example.com")
    assert [p["id"] for p in emulator.find_profiles(email="find@example.com")] == [a["id"]]
    assert [p["id"] for p in emulator.find_profiles(external_id="f-1", phone_number="+14155550123")] == [
        a["id"]
    ]
    assert emulator.find_profiles(external_id="f-1", email="other@example.com") == []
    assert len(emulator.find_profiles()) == 2
    assert set(emulator.profiles) == {p["id"] for p in emulator.find_profiles()}


async def test_lists_create_get_members(http: Client, emulator: KlaviyoEmulator) -> None:
    status, doc, _ = await http.post(
        "/api/lists",
        {"data": {"type": "list", "attributes": {"name": "News", "opt_in_process": "double_opt_in"}}},
    )
    assert status == 201
    list_id = doc["data"]["id"]
    assert len(list_id) == 6 and doc["data"]["attributes"]["opt_in_process"] == "double_opt_in"
    member = await http.create_profile(email="m@example.com")
    status, _, _ = await http.post(
        f"/api/lists/{list_id}/relationships/profiles", {"data": [{"type": "profile", "id": member["id"]}]}
    )
    assert status == 204
    status, doc, _ = await http.get(f"/api/lists/{list_id}", **{"additional-fields[list]": "profile_count"})
    assert doc["data"]["attributes"]["profile_count"] == 1
    status, doc, _ = await http.get(f"/api/lists/{list_id}/profiles", filter='equals(email,"M@example.com")')
    assert [p["id"] for p in doc["data"]] == [member["id"]]
    status, doc, _ = await http.get("/api/lists")
    assert [item["id"] for item in doc["data"]] == [list_id]
    status, doc, _ = await http.get(f"/api/profiles/{member['id']}", include="lists")
    assert doc["data"]["relationships"]["lists"]["data"] == [{"type": "list", "id": list_id}]
    assert doc["included"][0]["id"] == list_id
    status, _, _ = await http.post("/api/lists", {"data": {"type": "list", "attributes": {}}})
    assert status == 400
    status, _, _ = await http.get("/api/lists/zzzzzz/profiles")
    assert status == 404


async def test_state_survives_restart() -> None:
    emulator = KlaviyoEmulator(seed=1)
    first_url = await emulator.start()
    try:
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            await session.post(first_url + "/api/profiles", json=profile_doc(email="keep@example.com"))
    finally:
        await emulator.stop()
    await emulator.start()
    try:
        assert len(emulator.find_profiles(email="keep@example.com")) == 1
    finally:
        await emulator.stop()


def test_threaded_server_for_blocking_clients() -> None:
    emulator = KlaviyoEmulator()
    base = emulator.start_in_thread()
    try:
        assert emulator.base_url == base and base.startswith("http://127.0.0.1:")
        request = urllib.request.Request(base + "/api/profiles", headers=HEADERS)
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
    finally:
        emulator.stop_thread()
    with pytest.raises(OSError):
        urllib.request.urlopen(urllib.request.Request(base + "/api/profiles", headers=HEADERS), timeout=2)
