"""Bulk suppress / unsuppress jobs: 202 + job document, lifecycle, skipped counts, GET and filters."""

from __future__ import annotations

import asyncio
from typing import Any

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._consent_support import ENTRY, SUPPRESS, UNSUPPRESS, list_doc, suppression_doc
from ._support import Client, only_error


async def _wait(http: Client, path: str, job_id: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            status, doc, _ = await http.get(f"{path}/{job_id}")
            assert status == 200, doc
            if doc["data"]["attributes"]["status"] == "complete":
                return dict(doc["data"]["attributes"])
            await asyncio.sleep(0.01)


async def test_suppress_job_lifecycle_creates_unknown_profiles_and_counts_skips(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    known = emulator.seed_profile(email="known@example.com", consent={"email_marketing": "SUBSCRIBED"})
    emulator.seed_profile(email="already@example.com", suppressions=["USER_SUPPRESSED"])
    emails = ["known@example.com", "new@example.com", "already@example.com"]
    status, doc, _ = await http.post(SUPPRESS, suppression_doc(emails))
    assert status == 202
    data = doc["data"]
    assert data["type"] == "profile-suppression-bulk-create-job" and len(data["id"]) == 26
    assert data["attributes"] == {
        "status": "queued",
        "created_at": data["attributes"]["created_at"],
        "total_count": 3,
        "completed_count": 0,
        "completed_at": None,
        "skipped_count": 0,
    }
    assert data["relationships"]["lists"]["data"] == [] and data["relationships"]["segments"]["data"] == []
    assert data["links"]["self"] == f"{emulator.base_url}{SUPPRESS}/{data['id']}/"
    done = await _wait(http, SUPPRESS, data["id"])
    assert (done["completed_count"], done["skipped_count"], done["total_count"]) == (2, 1, 3)
    assert done["completed_at"] is not None
    assert emulator.suppressed == {
        "known@example.com": ("USER_SUPPRESSED",),
        "new@example.com": ("USER_SUPPRESSED",),
        "already@example.com": ("USER_SUPPRESSED",),
    }
    # consent and suppression are separate: still SUBSCRIBED, but cannot receive email marketing
    email = emulator.subscriptions_of(known)["email"]["marketing"]
    assert (email["consent"], email["can_receive_email_marketing"]) == ("SUBSCRIBED", False)
    assert [s["reason"] for s in email["suppression"]] == ["USER_SUPPRESSED"]


async def test_unsuppress_lifts_only_user_suppressed(http: Client, emulator: KlaviyoEmulator) -> None:
    emulator.seed_profile(email="user@example.com", suppressions=["USER_SUPPRESSED"])
    emulator.seed_profile(email="bounce@example.com", suppressions=["HARD_BOUNCE", "USER_SUPPRESSED"])
    emulator.seed_profile(email="unsub@example.com", consent={"email_marketing": "UNSUBSCRIBED"})
    emails = ["user@example.com", "bounce@example.com", "unsub@example.com", "nobody@example.com"]
    status, doc, _ = await http.post(UNSUPPRESS, suppression_doc(emails, suppress=False))
    assert status == 202 and doc["data"]["type"] == "profile-suppression-bulk-delete-job"
    done = await _wait(http, UNSUPPRESS, doc["data"]["id"])
    assert (done["completed_count"], done["skipped_count"]) == (2, 2)
    assert emulator.suppressed == {
        "bounce@example.com": ("HARD_BOUNCE",),
        "unsub@example.com": ("UNSUBSCRIBE",),
    }
    assert emulator.find_profiles(email="nobody@example.com") == []  # "no action will be taken"


async def test_suppress_all_members_of_a_list(http: Client, emulator: KlaviyoEmulator) -> None:
    _, created, _ = await http.post("/api/lists", list_doc("Bounced"))
    list_id = created["data"]["id"]
    for n in range(3):
        emulator.seed_profile(email=f"m{n}@example.com", lists=[list_id])
    emulator.seed_profile(email="outside@example.com")
    status, doc, _ = await http.post(SUPPRESS, suppression_doc(None, list_id=list_id))
    assert status == 202
    assert doc["data"]["relationships"]["lists"]["data"] == [{"type": "list", "id": list_id}]
    assert (await _wait(http, SUPPRESS, doc["data"]["id"]))["completed_count"] == 3
    assert sorted(emulator.suppressed) == ["m0@example.com", "m1@example.com", "m2@example.com"]


async def test_suppression_validation(http: Client) -> None:
    too_many = suppression_doc([f"p{i}@example.com" for i in range(101)])
    status, doc, _ = await http.post(SUPPRESS, too_many)
    assert status == 400 and only_error(doc)["source"]["pointer"] == ENTRY
    status, doc, _ = await http.post(SUPPRESS, suppression_doc(["broken"]))
    assert status == 400 and only_error(doc)["source"]["pointer"] == f"{ENTRY}/0/attributes/email"
    status, doc, _ = await http.post(SUPPRESS, suppression_doc(None))
    assert status == 400 and only_error(doc)["source"]["pointer"] == "/data"
    _, created, _ = await http.post("/api/lists", list_doc("L"))
    both = suppression_doc(["a@example.com"], list_id=created["data"]["id"])
    status, doc, _ = await http.post(SUPPRESS, both)
    assert status == 400 and only_error(doc)["source"]["pointer"] == "/data"
    segment = suppression_doc(None)
    segment["data"]["relationships"] = {"segment": {"data": {"type": "segment", "id": "Seg123"}}}
    status, doc, _ = await http.post(SUPPRESS, segment)
    assert status == 404 and only_error(doc)["code"] == "not_found"
    status, doc, _ = await http.post(SUPPRESS, suppression_doc([f"p{i}@example.com" for i in range(100)]))
    assert status == 202 and doc["data"]["attributes"]["total_count"] == 100
    status, doc, _ = await http.post(UNSUPPRESS, suppression_doc(["a@example.com"]))  # type of the other job
    assert status == 409 and only_error(doc)["source"]["pointer"] == "/data/type"


async def test_get_jobs_filter_sort_fields_and_404(http: Client) -> None:
    ids = []
    for n in range(3):
        _, doc, _ = await http.post(SUPPRESS, suppression_doc([f"j{n}@example.com"]))
        ids.append(doc["data"]["id"])
    _, doc, _ = await http.post(UNSUPPRESS, suppression_doc(["j0@example.com"], suppress=False))
    for job_id in ids:
        await _wait(http, SUPPRESS, job_id)
    status, doc, _ = await http.get(SUPPRESS)
    assert status == 200 and [j["id"] for j in doc["data"]] == ids  # only this kind, oldest first
    status, doc, _ = await http.get(SUPPRESS, sort="-created")
    assert [j["id"] for j in doc["data"]] == ids[::-1]
    status, doc, _ = await http.get(SUPPRESS, filter="equals(status,'complete')")
    assert len(doc["data"]) == 3
    status, doc, _ = await http.get(SUPPRESS, filter='equals(list_id,"nope")')
    assert doc["data"] == []
    status, doc, _ = await http.get(SUPPRESS, filter='equals(total_count,"1")')
    assert status == 400 and only_error(doc)["source"] == {"parameter": "filter"}
    status, doc, _ = await http.get(
        f"{SUPPRESS}/{ids[0]}", **{"fields[profile-suppression-bulk-create-job]": "status,skipped_count"}
    )
    assert doc["data"]["attributes"] == {"status": "complete", "skipped_count": 0}
    status, doc, _ = await http.get(f"{UNSUPPRESS}/{ids[0]}")  # a create job is not a delete job
    assert status == 404 and only_error(doc)["code"] == "not_found"
