"""Bulk profile import jobs: 202 job document, async progress, import errors, limits, lists."""

from __future__ import annotations

import asyncio
import json

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import Client, job_doc, only_error


async def test_submit_returns_202_queued_job_document(http: Client, emulator: KlaviyoEmulator) -> None:
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc([{"email": "j1@example.com"}]))
    assert status == 202
    data = doc["data"]
    assert data["type"] == "profile-bulk-import-job"
    attrs = data["attributes"]
    assert attrs["status"] == "queued"
    assert attrs["total_count"] == 1
    assert (attrs["completed_count"], attrs["failed_count"]) == (0, 0)
    assert attrs["started_at"] is None and attrs["completed_at"] is None
    assert attrs["created_at"] < attrs["expires_at"]
    assert set(data["relationships"]) == {"lists", "profiles", "import-errors"}
    assert data["links"]["self"] == f"{emulator.base_url}/api/profile-bulk-import-jobs/{data['id']}/"


async def test_job_processes_in_chunks_to_complete_with_upsert_semantics(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    existing = await http.create_profile(email="u0000@example.com", first_name="Before")
    profiles = [{"email": f"u{i:04d}@example.com", "first_name": f"N{i}"} for i in range(2500)]
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc(profiles))
    job_id = doc["data"]["id"]
    seen_statuses = set()
    while True:
        status, doc, _ = await http.get(f"/api/profile-bulk-import-jobs/{job_id}")
        attrs = doc["data"]["attributes"]
        seen_statuses.add(attrs["status"])
        if attrs["status"] == "complete":
            break
        await asyncio.sleep(0.005)
    assert "processing" in seen_statuses
    assert (attrs["total_count"], attrs["completed_count"], attrs["failed_count"]) == (2500, 2500, 0)
    assert attrs["started_at"] is not None and attrs["completed_at"] is not None
    assert len(emulator.profiles) == 2500
    assert emulator.profiles[existing["id"]]["first_name"] == "N0"  # matched by email and updated
    status, doc, _ = await http.get(
        f"/api/profile-bulk-import-jobs/{job_id}/profiles", **{"page[size]": "100"}
    )
    assert status == 200 and len(doc["data"]) == 100 and "next" in doc["links"]


async def test_invalid_profiles_become_paginated_import_errors(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    await http.create_profile(email="a@example.com")
    await http.create_profile(external_id="b-ext")
    profiles: list[dict] = [{"email": f"ok{i}@example.com"} for i in range(3)]
    profiles += [{"email": f"bad{i}"} for i in range(25)]
    profiles += [{"email": "ok9@example.com", "phone_number": "12345"}]
    profiles += [{"first_name": "no identifier"}]
    profiles += [{"email": "a@example.com", "external_id": "b-ext"}]  # two different profiles
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc(profiles))
    job = await http.wait_job(doc["data"]["id"])
    assert job["attributes"]["completed_count"] == 3
    assert job["attributes"]["failed_count"] == 28
    errors = []
    path = f"/api/profile-bulk-import-jobs/{job['id']}/import-errors"
    status, page, _ = await http.get(path)
    while True:
        assert status == 200
        errors.extend(page["data"])
        if "next" not in page["links"]:
            break
        status, page, _ = await http.get(page["links"]["next"])
    assert len(errors) == 28
    first = errors[0]
    assert first["type"] == "import-error"
    assert first["attributes"]["code"] == "invalid"
    assert first["attributes"]["source"] == {"pointer": "/data/attributes/email"}
    assert first["attributes"]["original_payload"] == {"type": "profile", "attributes": {"email": "bad0"}}
    pointers = [e["attributes"]["source"]["pointer"] for e in errors[25:]]
    assert pointers == ["/data/attributes/phone_number", "/data/attributes", "/data/attributes"]
    assert errors[-1]["attributes"]["code"] == "duplicate_profile"


async def test_more_than_10000_profiles_is_400(http: Client) -> None:
    profiles = [{"email": f"x{i}@e.co"} for i in range(10_001)]
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc(profiles))
    assert status == 400
    assert only_error(doc)["source"] == {"pointer": "/data/attributes/profiles/data"}


async def test_exactly_10000_profiles_is_accepted(http: Client) -> None:
    profiles = [{"email": f"x{i}@e.co"} for i in range(10_000)]
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc(profiles))
    assert status == 202
    assert doc["data"]["attributes"]["total_count"] == 10_000


async def test_payload_over_5mb_is_413(http: Client) -> None:
    profiles = [{"email": f"x{i}@e.co", "properties": {"pad": "p" * 600}} for i in range(9000)]
    assert len(json.dumps(job_doc(profiles))) > 5 * 1024 * 1024
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc(profiles))
    assert status == 413
    assert only_error(doc)["code"] == "request_too_large"


async def test_one_profile_over_100kb_is_400_naming_it(http: Client) -> None:
    profiles = [{"email": "small@e.co"}, {"email": "big@e.co", "properties": {"pad": "p" * (101 * 1024)}}]
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc(profiles))
    assert status == 400
    assert only_error(doc)["source"] == {"pointer": "/data/attributes/profiles/data/1"}


async def test_lists_relationship_adds_imported_profiles_to_the_list(http: Client) -> None:
    status, doc, _ = await http.post("/api/lists", {"data": {"type": "list", "attributes": {"name": "VIP"}}})
    assert status == 201
    list_id = doc["data"]["id"]
    profiles = [{"email": f"vip{i}@example.com"} for i in range(3)]
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc(profiles, (list_id,)))
    assert doc["data"]["relationships"]["lists"]["data"] == [{"type": "list", "id": list_id}]
    await http.wait_job(doc["data"]["id"])
    status, doc, _ = await http.get(f"/api/lists/{list_id}/profiles")
    assert sorted(p["attributes"]["email"] for p in doc["data"]) == [f"vip{i}@example.com" for i in range(3)]
    assert all("joined_group_at" in p["attributes"] for p in doc["data"])
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc(profiles, ("nolist",)))
    assert status == 404


async def test_list_jobs_with_status_filter_and_unknown_job(http: Client) -> None:
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", job_doc([{"email": "l@e.co"}]))
    done = await http.wait_job(doc["data"]["id"])
    status, doc, _ = await http.get("/api/profile-bulk-import-jobs", filter='equals(status,"complete")')
    assert status == 200 and [j["id"] for j in doc["data"]] == [done["id"]]
    status, doc, _ = await http.get("/api/profile-bulk-import-jobs", filter='equals(status,"queued")')
    assert doc["data"] == []
    status, doc, _ = await http.get("/api/profile-bulk-import-jobs/nope")
    assert status == 404 and only_error(doc)["code"] == "not_found"


async def test_malformed_job_bodies_are_400(http: Client) -> None:
    body = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": []}}}}
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", body)
    assert status == 400
    body = {
        "data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": [{"type": "event"}]}}}
    }
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", body)
    assert status == 400
    assert only_error(doc)["source"] == {"pointer": "/data/attributes/profiles/data/0/type"}
