"""Customers over HTTP: create, read, update (optimistic concurrency), delete, HEAD."""

from __future__ import annotations

import re
from typing import Any

import pytest

from crmsync.emulators.commercetools import CommercetoolsEmulator, CtApiError

from .conftest import Api, simple_draft

FULL_DRAFT: dict[str, Any] = {
    "key": "cust-1",
    "customerNumber": "CN-1",
    "externalId": "ext-1",
    "email": "Jane.Doe@Example.com",
    "password": "secret123",
    "firstName": "Jane",
    "lastName": "Doe",
    "title": "Dr.",
    "salutation": "Frau",
    "dateOfBirth": "1985-04-12",
    "companyName": "Doe GmbH",
    "vatId": "DE123456789",
    "locale": "de-DE",
    "addresses": [
        {"key": "home", "country": "DE", "city": "Berlin", "streetName": "Hauptstraße", "streetNumber": "1"},
        {"key": "work", "country": "DE", "city": "München", "company": "Doe GmbH"},
        {"country": "FR", "city": "Paris"},
    ],
    "defaultShippingAddress": 0,
    "defaultBillingAddress": 1,
    "billingAddresses": [2],
    "stores": [{"typeId": "store", "key": "eu-store"}],
    "custom": {"type": {"typeId": "type", "key": "customer-profile"}, "fields": {"loyaltyTier": "gold"}},
}


async def test_create_returns_201_sign_in_result_with_resolved_references(
    api: Api, emu: CommercetoolsEmulator
) -> None:
    status, body = await api.post("/customers", FULL_DRAFT)
    assert status == 201 and set(body) == {"customer"}
    customer = body["customer"]
    assert customer["version"] == 1 and customer["email"] == "Jane.Doe@Example.com"
    assert re.fullmatch(r"[0-9a-f-]{36}", customer["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", customer["createdAt"])
    assert customer["createdAt"] == customer["lastModifiedAt"]
    assert customer["createdBy"] == {"clientId": "client", "isPlatformClient": False}
    assert customer["password"].startswith("****") and "secret123" not in customer["password"]
    ids = [a["id"] for a in customer["addresses"]]
    assert len(set(ids)) == 3 and all(ids)
    assert customer["defaultShippingAddressId"] == ids[0] and customer["shippingAddressIds"] == [ids[0]]
    assert customer["defaultBillingAddressId"] == ids[1]
    assert customer["billingAddressIds"] == [ids[2], ids[1]]
    assert customer["stores"] == [{"typeId": "store", "key": "eu-store"}]
    profile = emu.refs.types.get_by_key("customer-profile")
    assert profile is not None
    assert customer["custom"] == {
        "type": {"typeId": "type", "id": profile["id"]},
        "fields": {"loyaltyTier": "gold"},
    }
    assert customer["authenticationMode"] == "Password" and customer["isEmailVerified"] is False
    assert customer["customerGroupAssignments"] == []
    assert emu.get_customer(customer["id"]) == customer


async def test_email_is_unique_case_insensitively_among_global_customers(api: Api) -> None:
    await api.create(simple_draft(1))
    status, body = await api.post("/customers", {"email": "USER1@example.com", "password": "x"})
    assert status == 400
    error = body["errors"][0]
    assert error["code"] == "DuplicateField" and error["field"] == "email"
    assert error["duplicateValue"] == "USER1@example.com"
    assert body["message"] == "There is already an existing customer with the provided email."


async def test_email_may_repeat_across_disjoint_stores_only(api: Api) -> None:
    eu = {"typeId": "store", "key": "eu-store"}
    uk = {"typeId": "store", "key": "uk-store"}
    await api.create({**simple_draft(1), "stores": [eu]})
    await api.create({**simple_draft(1), "stores": [uk]})
    status, _ = await api.post("/customers", {**simple_draft(1), "stores": [uk, eu]})
    assert status == 400
    status, _ = await api.post("/customers", simple_draft(1))  # a global customer clashes with any
    assert status == 400


@pytest.mark.parametrize(
    ("draft", "code"),
    [
        ({"password": "x"}, "InvalidJsonInput"),
        ({"email": "a@example.com"}, "RequiredField"),
        ({"email": "a@example.com", "password": "x", "key": "a"}, "InvalidField"),
        ({"email": "a@example.com", "password": "x", "key": "bad key!"}, "InvalidField"),
        ({"email": "a@example.com", "password": "x", "addresses": [{"city": "X"}]}, "InvalidJsonInput"),
        (
            {"email": "a@example.com", "password": "x", "addresses": [{"country": "Germany"}]},
            "InvalidJsonInput",
        ),
        ({"email": "a@example.com", "password": "x", "defaultBillingAddress": 0}, "InvalidInput"),
        ({"email": "a@example.com", "password": "x", "dateOfBirth": "12.04.1985"}, "InvalidJsonInput"),
        ({"email": "a@example.com", "authenticationMode": "ExternalAuth", "password": "x"}, "InvalidInput"),
        (
            {
                "email": "a@example.com",
                "password": "x",
                "custom": {"type": {"typeId": "type", "key": "nope"}},
            },
            "ReferencedResourceNotFound",
        ),
        (
            {
                "email": "a@example.com",
                "password": "x",
                "custom": {
                    "type": {"typeId": "type", "key": "customer-profile"},
                    "fields": {"loyaltyTier": "mega"},
                },
            },
            "InvalidField",
        ),
    ],
)
async def test_invalid_drafts_are_rejected_with_the_platform_code(
    api: Api, draft: dict[str, Any], code: str
) -> None:
    status, body = await api.post("/customers", draft)
    assert status == 400, body
    assert body["errors"][0]["code"] == code
    assert body["message"] == body["errors"][0]["message"]


async def test_external_auth_customers_have_no_password(api: Api) -> None:
    customer = await api.create({"email": "sso@example.com", "authenticationMode": "ExternalAuth"})
    assert customer["authenticationMode"] == "ExternalAuth" and "password" not in customer


async def test_duplicate_key_and_customer_number(api: Api) -> None:
    await api.create(simple_draft(1, key="k-1", customerNumber="N1"))
    status, body = await api.post("/customers", simple_draft(2, key="k-1"))
    assert status == 400 and body["errors"][0] == {
        "code": "DuplicateField",
        "message": "A duplicate value '\"k-1\"' exists for field 'key'.",
        "field": "key",
        "duplicateValue": "k-1",
    }
    status, body = await api.post("/customers", simple_draft(3, customerNumber="N1"))
    assert status == 400 and body["errors"][0]["field"] == "customerNumber"


async def test_get_by_id_and_key_and_404_texts(api: Api) -> None:
    customer = await api.create(simple_draft(1, key="the-key"))
    assert await api.get(f"/customers/{customer['id']}") == (200, customer)
    assert await api.get("/customers/key=the-key") == (200, customer)
    status, body = await api.get("/customers/5d0c0000-0000-4000-8000-000000000000")
    assert status == 404
    assert body == {
        "statusCode": 404,
        "message": "The Resource with ID '5d0c0000-0000-4000-8000-000000000000' was not found.",
        "errors": [
            {
                "code": "ResourceNotFound",
                "message": "The Resource with ID '5d0c0000-0000-4000-8000-000000000000' was not found.",
            }
        ],
    }
    status, body = await api.get("/customers/key=missing")
    assert status == 404 and body["message"] == "The Resource with key 'missing' was not found."


async def test_update_bumps_version_once_per_request_and_409_on_stale_version(api: Api) -> None:
    customer = await api.create(simple_draft(1))
    status, updated = await api.update(
        customer,
        {"action": "setFirstName", "firstName": "Ada"},
        {"action": "setLastName", "lastName": "Lovelace"},
    )
    assert status == 200 and updated["version"] == 2
    assert (updated["firstName"], updated["lastName"]) == ("Ada", "Lovelace")
    assert (
        updated["lastModifiedAt"] >= customer["lastModifiedAt"]
        and updated["createdAt"] == customer["createdAt"]
    )
    status, body = await api.update(customer, {"action": "setFirstName", "firstName": "Stale"})
    assert status == 409
    assert body["errors"][0] == {
        "code": "ConcurrentModification",
        "message": f"Object {customer['id']} has a different version than expected. Expected: 1 - Actual: 2.",
        "currentVersion": 2,
    }
    status, _ = await api.post(
        "/customers/key=missing", {"version": 1, "actions": [{"action": "setFirstName", "firstName": "x"}]}
    )
    assert status == 404


async def test_update_by_key_and_noop_update_keeps_the_version(api: Api, emu: CommercetoolsEmulator) -> None:
    customer = await api.create(simple_draft(1, key="by-key"))
    status, updated = await api.post(
        "/customers/key=by-key",
        {"version": 1, "actions": [{"action": "setFirstName", "firstName": "First1"}]},
    )
    assert status == 200 and updated["version"] == 1 == customer["version"]
    assert len(emu.messages) == 1


async def test_failed_action_leaves_the_customer_untouched(api: Api, emu: CommercetoolsEmulator) -> None:
    customer = await api.create(simple_draft(1))
    status, body = await api.update(
        customer,
        {"action": "setFirstName", "firstName": "Changed"},
        {"action": "removeAddress", "addressId": "nope"},
    )
    assert status == 400 and body["errors"][0]["code"] == "InvalidOperation"
    assert emu.get_customer(customer["id"]) == customer and len(emu.messages) == 1


async def test_unknown_action_names_it(api: Api) -> None:
    customer = await api.create(simple_draft(1))
    status, body = await api.update(customer, {"action": "setShoeSize", "size": 44})
    assert status == 400
    assert body["errors"][0]["code"] == "InvalidInput" and "setShoeSize" in body["message"]


async def test_update_body_validation(api: Api) -> None:
    customer = await api.create(simple_draft(1))
    for body in ({"actions": []}, {"version": "1", "actions": []}, {"version": 1}, [1, 2]):
        status, answer = await api.post(f"/customers/{customer['id']}", body)
        assert status == 400 and answer["errors"][0]["code"] == "InvalidJsonInput", body


async def test_delete_returns_the_customer_and_checks_the_version(
    api: Api, emu: CommercetoolsEmulator
) -> None:
    customer = await api.create(simple_draft(1))
    assert (await api.call("DELETE", f"/customers/{customer['id']}", params={"version": 7}))[0] == 409
    assert (await api.call("DELETE", f"/customers/{customer['id']}"))[0] == 400
    status, deleted = await api.call(
        "DELETE", f"/customers/{customer['id']}", params={"version": 1, "dataErasure": "true"}
    )
    assert status == 200 and deleted == customer
    assert (await api.get(f"/customers/{customer['id']}"))[0] == 404
    assert emu.get_customer(customer["id"]) is None
    await api.create(simple_draft(1))  # the email is free again


async def test_head_on_collection_and_single_customer(api: Api) -> None:
    customer = await api.create(simple_draft(1, key="head-key"))
    assert await api.call("HEAD", "/customers", params={"where": 'email = "user1@example.com"'}) == (
        200,
        None,
    )
    assert await api.call("HEAD", "/customers", params={"where": 'email = "nobody@example.com"'}) == (
        404,
        None,
    )
    assert (await api.call("HEAD", f"/customers/{customer['id']}"))[0] == 200
    assert (await api.call("HEAD", "/customers/key=head-key"))[0] == 200
    assert (await api.call("HEAD", "/customers/key=other"))[0] == 404


async def test_direct_api_has_the_same_semantics(emu: CommercetoolsEmulator, api: Api) -> None:
    customer = emu.create_customer(simple_draft(1))
    with pytest.raises(CtApiError) as info:
        emu.create_customer(simple_draft(1))
    assert info.value.code == "DuplicateField"
    updated = emu.update_customer(customer["id"], 1, [{"action": "setLastName", "lastName": "X"}])
    assert updated["version"] == 2
    with pytest.raises(CtApiError) as info:
        emu.update_customer(customer["id"], 1, [{"action": "setLastName", "lastName": "Y"}])
    assert info.value.status == 409 and info.value.fields == {"currentVersion": 2}
    assert await api.get(f"/customers/{customer['id']}") == (200, updated)
    updated["firstName"] = "mutated by the caller"
    assert emu.customers[customer["id"]]["firstName"] == "First1"
    emu.delete_customer(customer["id"], 2)
    assert customer["id"] not in emu.customers
