"""Required headers (auth, revision, media type) and the JSON:API error document everywhere."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import HEADERS, Client, only_error, profile_doc


def _without(name: str) -> dict[str, str]:
    return {k: v for k, v in HEADERS.items() if k != name}


async def _raw(
    emulator: KlaviyoEmulator, method: str, path: str, headers: dict[str, str], body: bytes | None = None
):
    async with aiohttp.ClientSession() as session:
        async with session.request(method, emulator.base_url + path, headers=headers, data=body) as resp:
            return resp.status, await resp.json(content_type=None), resp.headers


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Klaviyo-API-Key", "Klaviyo-API-Key sk_123", "Klaviyo-API-Key pk_", "Token pk_abc", "pk_abc"],
)
async def test_missing_or_malformed_key_is_401_not_authenticated(
    emulator: KlaviyoEmulator, authorization: str | None
) -> None:
    headers = _without("Authorization")
    if authorization is not None:
        headers["Authorization"] = authorization
    status, doc, resp_headers = await _raw(emulator, "GET", "/api/profiles", headers)
    assert status == 401
    assert resp_headers["Content-Type"].startswith("application/vnd.api+json")
    error = only_error(doc)
    assert error["status"] == 401
    assert error["code"] == "not_authenticated"
    assert error["title"] == "Authentication credentials were not provided."
    assert emulator.request_count("get_profiles", 401) == 1


async def test_any_private_key_and_oauth_bearer_are_accepted(emulator: KlaviyoEmulator) -> None:
    for auth in ("Klaviyo-API-Key pk_anything_at_all", "Bearer some-oauth-access-token"):
        headers = {**HEADERS, "Authorization": auth}
        status, _, _ = await _raw(emulator, "GET", "/api/profiles", headers)
        assert status == 200


async def test_missing_revision_is_400(emulator: KlaviyoEmulator) -> None:
    status, doc, _ = await _raw(emulator, "GET", "/api/profiles", _without("revision"))
    assert status == 400
    error = only_error(doc)
    assert error["code"] == "invalid"
    assert error["source"] == {"parameter": "revision"}


@pytest.mark.parametrize("revision", ["2024-13-45", "yesterday", "2019-01-15", "2999-01-15", "2024/10/15"])
async def test_malformed_or_unknown_revision_is_400(emulator: KlaviyoEmulator, revision: str) -> None:
    status, doc, _ = await _raw(emulator, "GET", "/api/profiles", {**HEADERS, "revision": revision})
    assert status == 400
    assert only_error(doc)["source"] == {"parameter": "revision"}


@pytest.mark.parametrize("revision", ["2023-02-22", "2026-07-15", "2026-10-15", "2026-07-15.pre"])
async def test_published_revisions_including_the_sdks_are_accepted(
    emulator: KlaviyoEmulator, revision: str
) -> None:
    status, _, _ = await _raw(emulator, "GET", "/api/profiles", {**HEADERS, "revision": revision})
    assert status == 200


@pytest.mark.parametrize("content_type", ["application/vnd.api+json", "application/json"])
async def test_both_json_media_types_are_accepted(emulator: KlaviyoEmulator, content_type: str) -> None:
    headers = {**HEADERS, "Content-Type": content_type}
    body = b'{"data": {"type": "profile", "attributes": {"email": "media@example.com"}}}'
    status, _, _ = await _raw(emulator, "POST", "/api/profiles", headers, body)
    assert status == 201


async def test_other_media_types_are_415(emulator: KlaviyoEmulator) -> None:
    headers = {**HEADERS, "Content-Type": "text/plain"}
    status, doc, _ = await _raw(emulator, "POST", "/api/profiles", headers, b"email=a@b.com")
    assert status == 415
    assert only_error(doc)["code"] == "unsupported_media_type"


async def test_malformed_json_is_400_parse_error(http: Client) -> None:
    status, doc, _ = await http.call("POST", "/api/profiles", raw=b'{"data": {')
    assert status == 400
    error = only_error(doc)
    assert error["code"] == "parse_error"
    assert error["source"] == {"pointer": "/data"}


async def test_error_objects_carry_every_member(http: Client) -> None:
    status, doc, _ = await http.post("/api/profiles", profile_doc(email="not-an-email"))
    assert status == 400
    error = only_error(doc)
    uuid.UUID(error["id"])
    assert error["status"] == 400
    assert error["code"] == "invalid"
    assert error["title"] == "Invalid input."
    assert "not-an-email" in error["detail"]
    assert error["source"] == {"pointer": "/data/attributes/email"}
    assert error["links"] == {}
    assert error["meta"] == {}


async def test_unknown_route_and_wrong_method_are_json_api_errors(http: Client) -> None:
    status, doc, _ = await http.get("/api/not-a-thing")
    assert status == 404
    assert only_error(doc)["code"] == "not_found"
    status, doc, _ = await http.call("DELETE", "/api/profiles")
    assert status == 405
    assert only_error(doc)["code"] == "method_not_allowed"


async def test_trailing_slash_paths_are_served_like_klaviyo(http: Client) -> None:
    created = await http.create_profile(email="slash@example.com")
    status, doc, _ = await http.get(f"/api/profiles/{created['id']}/")
    assert status == 200
    assert doc["data"]["id"] == created["id"]
    status, _, _ = await http.get("/api/profiles/")
    assert status == 200


async def test_type_mismatch_is_409_conflict(http: Client) -> None:
    status, doc, _ = await http.post(
        "/api/profiles", {"data": {"type": "list", "attributes": {"email": "a@b.co"}}}
    )
    assert status == 409
    error = only_error(doc)
    assert error["code"] == "conflict"
    assert error["source"] == {"pointer": "/data/type"}
