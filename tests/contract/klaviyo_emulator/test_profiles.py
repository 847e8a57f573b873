"""Profile writes: create, get, update (PATCH semantics), create-or-update (profile-import)."""

from __future__ import annotations

import re

import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import Client, only_error, profile_doc

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


async def test_create_returns_201_document_with_ulid_links_and_all_attributes(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    status, doc, headers = await http.post(
        "/api/profiles",
        profile_doc(
            email="ada@example.com",
            phone_number="+14155550101",
            external_id="ct-1",
            first_name="Ada",
            location={"city": "London", "latitude": 51.5},
            properties={"tier": "gold"},
        ),
    )
    assert status == 201
    assert headers["Content-Type"].startswith("application/vnd.api+json")
    data = doc["data"]
    assert data["type"] == "profile"
    assert ULID.match(data["id"])
    attrs = data["attributes"]
    assert attrs["email"] == "ada@example.com"
    assert attrs["phone_number"] == "+14155550101"
    assert attrs["external_id"] == "ct-1"
    assert attrs["first_name"] == "Ada"
    assert attrs["last_name"] is None
    assert attrs["location"]["city"] == "London"
    assert attrs["location"]["latitude"] == 51.5
    assert attrs["location"]["zip"] is None
    assert attrs["properties"] == {"tier": "gold"}
    assert ISO.match(attrs["created"]) and ISO.match(attrs["updated"])
    assert attrs["last_event_date"] is None
    assert data["links"]["self"] == f"{emulator.base_url}/api/profiles/{data['id']}/"
    assert set(data["relationships"]) >= {"lists", "segments", "push-tokens"}
    assert emulator.profiles[data["id"]]["email"] == "ada@example.com"


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"email": "no-at-sign"}, "/data/attributes/email"),
        ({"email": "a@b"}, "/data/attributes/email"),
        ({"email": "ok@example.com", "phone_number": "555-0100"}, "/data/attributes/phone_number"),
        ({"email": "ok@example.com", "phone_number": "0044207946000"}, "/data/attributes/phone_number"),
        ({"first_name": "Only a name"}, "/data/attributes"),
        ({"email": "ok@example.com", "first_name": 42}, "/data/attributes/first_name"),
        ({"email": "ok@example.com", "nickname": "x"}, "/data/attributes/nickname"),
        ({"email": "ok@example.com", "location": {"planet": "Mars"}}, "/data/attributes/location/planet"),
        ({"email": "ok@example.com", "properties": ["not", "an", "object"]}, "/data/attributes/properties"),
    ],
)
async def test_validation_errors_point_at_the_field(http: Client, attributes: dict, pointer: str) -> None:
    status, doc, _ = await http.post("/api/profiles", profile_doc(**attributes))
    assert status == 400
    error = only_error(doc)
    assert error["code"] == "invalid"
    assert error["source"] == {"pointer": pointer}


@pytest.mark.parametrize(
    "identifier",
    [{"email": "DUP@example.com"}, {"phone_number": "+14155550102"}, {"external_id": "dup-1"}],
)
async def test_duplicate_identifier_is_409_with_existing_id(http: Client, identifier: dict) -> None:
    existing = await http.create_profile(
        email="dup@example.com", phone_number="+14155550102", external_id="dup-1"
    )
    status, doc, _ = await http.post("/api/profiles", profile_doc(**identifier))
    assert status == 409
    error = only_error(doc)
    assert error["code"] == "duplicate_profile"
    assert error["meta"] == {"duplicate_profile_id": existing["id"]}


async def test_get_profile_and_404(http: Client) -> None:
    created = await http.create_profile(email="get@example.com")
    status, doc, _ = await http.get(f"/api/profiles/{created['id']}")
    assert status == 200
    assert doc["data"]["attributes"]["email"] == "get@example.com"
    assert doc["links"]["self"].endswith(f"/api/profiles/{created['id']}/")
    status, doc, _ = await http.get("/api/profiles/01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert status == 404
    assert only_error(doc)["code"] == "not_found"


async def test_patch_null_clears_absent_unchanged_and_merges_properties_and_location(http: Client) -> None:
    created = await http.create_profile(
        email="patch@example.com",
        first_name="Pat",
        last_name="Old",
        location={"city": "Paris", "country": "FR"},
        properties={"a": 1, "b": 2},
    )
    pid = created["id"]
    status, doc, _ = await http.patch(
        f"/api/profiles/{pid}",
        profile_doc(pid, last_name=None, location={"city": "Lyon"}, properties={"b": 3, "c": 4}),
    )
    assert status == 200
    attrs = doc["data"]["attributes"]
    assert attrs["first_name"] == "Pat"
    assert attrs["last_name"] is None
    assert attrs["location"]["city"] == "Lyon"
    assert attrs["location"]["country"] == "FR"
    assert attrs["properties"] == {"a": 1, "b": 3, "c": 4}
    assert attrs["updated"] >= attrs["created"]


async def test_patch_properties_meta_appends_unappends_and_unsets(http: Client) -> None:
    created = await http.create_profile(email="meta@example.com", properties={"tags": ["a"], "gone": True})
    pid = created["id"]
    meta = {"patch_properties": {"append": {"tags": "b"}, "unappend": {"tags": "a"}, "unset": "gone"}}
    status, doc, _ = await http.patch(f"/api/profiles/{pid}", profile_doc(pid, meta=meta))
    assert status == 200
    assert doc["data"]["attributes"]["properties"] == {"tags": ["b"]}


async def test_patch_properties_null_clears_them_all(http: Client) -> None:
    created = await http.create_profile(email="clear@example.com", properties={"a": 1})
    status, doc, _ = await http.patch(
        f"/api/profiles/{created['id']}", profile_doc(created["id"], properties=None)
    )
    assert status == 200
    assert doc["data"]["attributes"]["properties"] == {}


async def test_patch_id_must_match_the_url(http: Client) -> None:
    created = await http.create_profile(email="idm@example.com")
    status, doc, _ = await http.patch(
        f"/api/profiles/{created['id']}", profile_doc("01OTHERIDXXXXXXXXXXXXXXXXX")
    )
    assert status == 409
    assert only_error(doc)["source"] == {"pointer": "/data/id"}
    status, doc, _ = await http.patch(f"/api/profiles/{created['id']}", profile_doc(first_name="x"))
    assert status == 400
    assert only_error(doc)["source"] == {"pointer": "/data/id"}


async def test_patch_to_another_profiles_identifier_is_409_and_unknown_id_404(http: Client) -> None:
    first = await http.create_profile(email="one@example.com")
    second = await http.create_profile(email="two@example.com")
    status, doc, _ = await http.patch(
        f"/api/profiles/{second['id']}", profile_doc(second["id"], email="ONE@example.com")
    )
    assert status == 409
    assert only_error(doc)["meta"] == {"duplicate_profile_id": first["id"]}
    missing = "01AAAAAAAAAAAAAAAAAAAAAAAA"
    status, _, _ = await http.patch(f"/api/profiles/{missing}", profile_doc(missing, first_name="x"))
    assert status == 404


async def test_email_change_moves_the_identifier(http: Client, emulator: KlaviyoEmulator) -> None:
    created = await http.create_profile(email="old@example.com")
    status, _, _ = await http.patch(
        f"/api/profiles/{created['id']}", profile_doc(created["id"], email="new@example.com")
    )
    assert status == 200
    assert emulator.find_profiles(email="old@example.com") == []
    assert [p["id"] for p in emulator.find_profiles(email="NEW@example.com")] == [created["id"]]
    await http.create_profile(email="old@example.com")  # the old address is free again


async def test_profile_import_creates_201_then_updates_200(http: Client, emulator: KlaviyoEmulator) -> None:
    status, doc, _ = await http.post(
        "/api/profile-import", profile_doc(email="up@example.com", first_name="A")
    )
    assert status == 201
    pid = doc["data"]["id"]
    status, doc, _ = await http.post(
        "/api/profile-import", profile_doc(email="up@example.com", external_id="x-9", last_name="B")
    )
    assert status == 200
    assert doc["data"]["id"] == pid
    attrs = doc["data"]["attributes"]
    assert (attrs["first_name"], attrs["last_name"], attrs["external_id"]) == ("A", "B", "x-9")
    status, doc, _ = await http.post("/api/profile-import", profile_doc(external_id="x-9", title="Dr"))
    assert status == 200 and doc["data"]["id"] == pid
    assert len(emulator.profiles) == 1


async def test_profile_import_by_id_updates_and_id_quirks(http: Client) -> None:
    target = await http.create_profile(email="target@example.com")
    other = await http.create_profile(email="other@example.com")
    status, doc, _ = await http.post("/api/profile-import", profile_doc(target["id"], first_name="T"))
    assert status == 200 and doc["data"]["attributes"]["first_name"] == "T"
    # apis.md §2.2: an id plus another profile's email is a 404, not a 409.
    status, doc, _ = await http.post(
        "/api/profile-import", profile_doc(target["id"], email="other@example.com")
    )
    assert status == 404
    assert only_error(doc)["code"] == "not_found"
    status, _, _ = await http.post(
        "/api/profile-import", profile_doc("01BBBBBBBBBBBBBBBBBBBBBBBB", first_name="x")
    )
    assert status == 404
    assert other["id"] != target["id"]


async def test_profile_import_identifiers_of_two_profiles_is_409(http: Client) -> None:
    await http.create_profile(email="e1@example.com")
    second = await http.create_profile(external_id="ext-2")
    status, doc, _ = await http.post(
        "/api/profile-import", profile_doc(email="e1@example.com", external_id="ext-2")
    )
    assert status == 409
    error = only_error(doc)
    assert error["code"] == "duplicate_profile"
    assert error["meta"] == {"duplicate_profile_id": second["id"]}


async def test_profile_import_requires_an_identifier_and_validates_phone(http: Client) -> None:
    status, doc, _ = await http.post("/api/profile-import", profile_doc(first_name="nobody"))
    assert status == 400
    assert only_error(doc)["source"] == {"pointer": "/data/attributes"}
    status, doc, _ = await http.post(
        "/api/profile-import", profile_doc(email="p@example.com", phone_number="+1 415")
    )
    assert status == 400
    assert only_error(doc)["source"] == {"pointer": "/data/attributes/phone_number"}


async def test_payload_over_100kb_is_413(http: Client) -> None:
    status, doc, _ = await http.post(
        "/api/profiles", profile_doc(email="big@example.com", properties={"blob": "x" * (101 * 1024)})
    )
    assert status == 413
    assert only_error(doc)["code"] == "request_too_large"
