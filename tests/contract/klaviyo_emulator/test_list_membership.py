"""List membership: remove members (DELETE .../relationships/profiles), read members as linkage.

``remove_profiles_from_list`` takes the same body as ``add_profiles_to_list`` (``ListMembersDeleteQuery``,
at most 1,000 profiles), answers 204, and never touches consent; removing a non-member is a no-op.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator
from tests.fidelity.test_klaviyo_response_schemas import SpecValidator

from ._consent_support import SUBSCRIBE, entry, list_doc, subscribe_doc
from ._support import Client, job_doc, only_error

MEMBERS = "/api/lists/{id}/relationships/profiles"


def linkage(*ids: str) -> dict[str, Any]:
    return {"data": [{"type": "profile", "id": i} for i in ids]}


async def _list(http: Client, name: str) -> str:
    status, doc, _ = await http.post("/api/lists", list_doc(name))
    assert status == 201, doc
    return str(doc["data"]["id"])


async def _member_ids(http: Client, list_id: str, **params: str) -> list[str]:
    """Every member id, page by page, through the relationship endpoint."""
    ids: list[str] = []
    url = MEMBERS.format(id=list_id)
    query: dict[str, str] | None = params or None
    while True:
        status, doc, _ = await http.call("GET", url, params=query)
        assert status == 200, doc
        assert all(set(e) == {"type", "id"} and e["type"] == "profile" for e in doc["data"]), doc
        ids.extend(e["id"] for e in doc["data"])
        if not doc["links"].get("next"):
            return ids
        url, query = doc["links"]["next"], None


async def test_remove_takes_members_out_and_ignores_non_members(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    list_id = await _list(http, "eu-store")
    a, b, c = [await http.create_profile(email=f"{n}@example.com") for n in "abc"]
    path = MEMBERS.format(id=list_id)
    status, _, _ = await http.post(path, linkage(a["id"], b["id"]))
    assert status == 204
    assert sorted(await _member_ids(http, list_id)) == sorted([a["id"], b["id"]])

    status, doc, _ = await http.call("DELETE", path, linkage(a["id"], c["id"]))  # c never was a member
    assert (status, doc) == (204, None)
    assert await _member_ids(http, list_id) == [b["id"]]
    assert emulator.profiles[a["id"]]["lists"] == [] and emulator.profiles[b["id"]]["lists"] == [list_id]
    status, doc, _ = await http.call("DELETE", path + "/", linkage(a["id"]))  # again, trailing slash
    assert (status, doc) == (204, None)
    assert emulator.request_count("remove_profiles_from_list", 204) == 2


async def test_remove_validates_like_add_and_changes_nothing_on_error(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    list_id = await _list(http, "us-store")
    member = await http.create_profile(email="m@example.com")
    path = MEMBERS.format(id=list_id)
    assert (await http.post(path, linkage(member["id"])))[0] == 204

    status, doc, _ = await http.call("DELETE", MEMBERS.format(id="NoSuch"), linkage(member["id"]))
    assert status == 404 and only_error(doc)["code"] == "not_found"
    bad_bodies: list[tuple[Any, str]] = [
        ({"data": {"type": "profile", "id": member["id"]}}, "/data"),
        ({}, "/data"),
        ([], "/data"),
        ({"data": [{"type": "list", "id": member["id"]}]}, "/data/0"),
        ({"data": [{"type": "profile", "id": member["id"]}, {"type": "profile"}]}, "/data/1"),
        ({"data": [{"type": "profile", "id": 7}]}, "/data/0"),
        (linkage(*[member["id"]] * 1001), "/data"),
    ]
    for body, pointer in bad_bodies:
        status, doc, _ = await http.call("DELETE", path, body)
        assert status == 400, body
        error = only_error(doc)
        assert (error["code"], error["source"]["pointer"]) == ("invalid", pointer), body
    # an unknown profile anywhere in the body is a 404, and the known one before it stays a member
    status, doc, _ = await http.call("DELETE", path, linkage(member["id"], "01UNKNOWNPROFILE"))
    assert status == 404 and only_error(doc)["code"] == "not_found"
    assert await _member_ids(http, list_id) == [member["id"]]
    assert emulator.request_count("remove_profiles_from_list", 204) == 0


async def test_removing_from_a_list_keeps_consent(http: Client, emulator: KlaviyoEmulator) -> None:
    list_id = await _list(http, "fr-store")
    assert (await http.post(SUBSCRIBE, subscribe_doc([entry(email="s@example.com")], list_id=list_id)))[
        0
    ] == 202
    [profile] = emulator.find_profiles(email="s@example.com")
    assert profile["lists"] == [list_id]
    status, _, _ = await http.call("DELETE", MEMBERS.format(id=list_id), linkage(profile["id"]))
    assert status == 204
    after = emulator.profiles[profile["id"]]
    assert after["lists"] == [] and after["subscriptions"]["email_marketing"] == "SUBSCRIBED"


async def test_member_linkage_pages_and_filters(http: Client) -> None:
    list_id = await _list(http, "de-store")
    ids = [(await http.create_profile(email=f"p{n}@example.com"))["id"] for n in range(5)]
    assert (await http.post(MEMBERS.format(id=list_id), linkage(*ids)))[0] == 204
    assert sorted(await _member_ids(http, list_id, **{"page[size]": "2"})) == sorted(ids)
    status, doc, _ = await http.get(MEMBERS.format(id=list_id), **{"page[size]": "2"})
    assert len(doc["data"]) == 2 and "page%5Bcursor%5D" in doc["links"]["next"]
    assert await _member_ids(http, list_id, filter='equals(email,"P3@example.com")') == [ids[3]]
    status, doc, _ = await http.get(MEMBERS.format(id="NoSuch"))
    assert status == 404 and only_error(doc)["code"] == "not_found"
    status, doc, _ = await http.get(MEMBERS.format(id=list_id), **{"page[size]": "101"})
    assert status == 400


async def test_bulk_job_profiles_honour_sparse_fields(http: Client) -> None:
    body = job_doc([{"email": "j1@example.com", "external_id": "c-1", "first_name": "J"}])
    status, doc, _ = await http.post("/api/profile-bulk-import-jobs", body)
    assert status == 202, doc
    job_id = doc["data"]["id"]
    await http.wait_job(job_id)
    status, doc, _ = await http.get(
        f"/api/profile-bulk-import-jobs/{job_id}/profiles",
        **{"fields[profile]": "email,external_id,phone_number"},
    )
    assert status == 200, doc
    [profile] = doc["data"]
    assert profile["attributes"] == {"email": "j1@example.com", "external_id": "c-1", "phone_number": None}
    status, doc, _ = await http.get(
        f"/api/profile-bulk-import-jobs/{job_id}/profiles", **{"fields[profile]": "nonsense"}
    )
    assert status == 400 and only_error(doc)["source"] == {"parameter": "fields[profile]"}


@pytest.mark.specs
async def test_membership_responses_match_the_spec(http: Client, specs_dir: Path) -> None:
    validator = SpecValidator(json.loads((specs_dir / "klaviyo" / "openapi-stable.json").read_text("utf-8")))
    list_id = await _list(http, "spec-store")
    ids = [(await http.create_profile(email=f"s{n}@example.com"))["id"] for n in range(3)]
    template = MEMBERS
    path = template.format(id=list_id)
    status, doc, _ = await http.post(path, linkage(*ids))
    validator.validate(template, "POST", status, doc)
    status, doc, _ = await http.get(path, **{"page[size]": "2"})
    assert status == 200
    validator.validate(template, "GET", status, doc)
    status, doc, _ = await http.call("DELETE", path, linkage(ids[0]))
    assert status == 204
    validator.validate(template, "DELETE", status, doc)
    status, doc, _ = await http.call("DELETE", path, {"data": "x"})
    assert status == 400
    validator.validate(template, "DELETE", status, doc)
    assert {c for c, _ in validator.checked} == {f"{m} {template}" for m in ("POST", "GET", "DELETE")}
