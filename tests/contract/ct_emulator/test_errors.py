"""The error envelope on every failure path: unknown routes, wrong methods, bad JSON, limits, types."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .conftest import PROJECT, Api


def assert_envelope(body: Any, status: int, code: str) -> None:
    assert body["statusCode"] == status
    assert body["errors"] and body["errors"][0]["code"] == code
    assert body["message"] == body["errors"][0]["message"] and body["message"]


async def test_unknown_route_is_404_resource_not_found(api: Api) -> None:
    status, body = await api.get("/carts-that-do-not-exist")
    assert status == 404
    assert_envelope(body, 404, "ResourceNotFound")
    async with api.session.get(f"{api.base_url}/a/b/c/d/e") as response:
        assert response.status == 404
        assert_envelope(await response.json(), 404, "ResourceNotFound")


async def test_wrong_method_is_405_with_allow_header(api: Api) -> None:
    async with api.session.put(
        f"{api.base_url}/{PROJECT}/customers", headers={"Authorization": f"Bearer {api.token}"}
    ) as response:
        assert response.status == 405
        assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
        assert_envelope(await response.json(), 405, "InvalidOperation")


async def test_malformed_json_is_invalid_json_input(api: Api) -> None:
    for raw in (b"{not json", b"", b"\xff\xfe"):
        status, body = await api.call(
            "POST", "/customers", data=raw, headers={"Content-Type": "application/json"}
        )
        assert status == 400
        assert_envelope(body, 400, "InvalidJsonInput")
        assert body["errors"][0]["detailedErrorMessage"]
    status, body = await api.post("/customers", [1, 2, 3])
    assert status == 400 and body["errors"][0]["code"] == "InvalidJsonInput"


async def test_wrong_project_key_is_403_insufficient_scope(api: Api) -> None:
    async with api.session.get(
        f"{api.base_url}/not-{PROJECT}/customers/some-id", headers={"Authorization": f"Bearer {api.token}"}
    ) as response:
        body = await response.json()
    assert response.status == 403
    assert_envelope(body, 403, "insufficient_scope")
    assert body["error"] == "insufficient_scope"


async def test_vendor_error_example_shapes(api: Api, emu: CommercetoolsEmulator) -> None:
    customer = emu.create_customer({"email": "e@example.com", "password": "x"})
    emu.update_customer(customer["id"], 1, [{"action": "setFirstName", "firstName": "E"}])
    status, body = await api.update(customer, {"action": "setFirstName", "firstName": "F"})
    assert status == 409
    assert list(body) == ["statusCode", "message", "errors"]
    assert list(body["errors"][0]) == ["code", "message", "currentVersion"]


async def test_types_endpoint(api: Api) -> None:
    status, page = await api.get("/types", where='key = "customer-profile"')
    assert status == 200 and page["total"] == 1
    profile = page["results"][0]
    assert profile["resourceTypeIds"] == ["customer"]
    assert {d["name"] for d in profile["fieldDefinitions"]} >= {
        "loyaltyTier",
        "newsletterOptIn",
        "preferredStore",
    }
    assert await api.get(f"/types/{profile['id']}") == (200, profile)
    assert await api.get("/types/key=customer-profile") == (200, profile)
    draft = {
        "key": "order-extras",
        "name": {"en": "Order extras"},
        "resourceTypeIds": ["customer"],
        "fieldDefinitions": [
            {"name": "vip", "label": {"en": "VIP"}, "required": True, "type": {"name": "Boolean"}}
        ],
    }
    status, created = await api.post("/types", draft)
    assert status == 201 and created["key"] == "order-extras" and created["version"] == 1
    assert (await api.post("/types", draft))[0] == 400
    status, body = await api.post(
        "/customers",
        {
            "email": "t@example.com",
            "password": "x",
            "custom": {"type": {"typeId": "type", "id": created["id"]}, "fields": {}},
        },
    )
    assert status == 400 and body["errors"][0] == {
        "code": "RequiredField",
        "message": "The field 'vip' is required.",
        "field": "vip",
    }


async def test_project_endpoint(api: Api) -> None:
    status, project = await api.get("")
    assert status == 200
    assert project["key"] == PROJECT and project["messages"]["enabled"] is True
    assert "de-DE" in project["languages"]
