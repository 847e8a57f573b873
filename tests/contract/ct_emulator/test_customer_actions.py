"""Every customer update action that changes data: its effect and the Messages it writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .conftest import Api

GROUP = {"typeId": "customer-group", "id": "8d2a6f3e-0000-4000-8000-000000000001"}
PROFILE = {"typeId": "type", "key": "customer-profile"}


def base_draft() -> dict[str, Any]:
    return {
        "email": "base@example.com",
        "password": "secret",
        "firstName": "Ann",
        "customerNumber": None,
        "addresses": [
            {"key": "home", "country": "DE", "city": "Berlin"},
            {"key": "work", "country": "DE", "city": "Hamburg"},
        ],
        "defaultShippingAddress": 0,
        "billingAddresses": [1],
        "stores": [{"typeId": "store", "key": "eu-store"}],
        "custom": {"type": PROFILE, "fields": {"loyaltyTier": "silver", "newsletterOptIn": True}},
    }


Check = Callable[[dict[str, Any]], bool]

# action builder (gets the created customer), expected message types, check on the updated customer
CASES: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], list[str], Check]] = [
    (
        "addAddress",
        lambda c: {"action": "addAddress", "address": {"key": "new", "country": "GB", "city": "Leeds"}},
        ["CustomerAddressAdded"],
        lambda c: c["addresses"][-1]["key"] == "new" and bool(c["addresses"][-1]["id"]),
    ),
    (
        "changeAddress",
        lambda c: {
            "action": "changeAddress",
            "addressKey": "home",
            "address": {"key": "home", "country": "DE", "city": "Köln"},
        },
        ["CustomerAddressChanged"],
        lambda c: (
            c["addresses"][0]["city"] == "Köln" and c["addresses"][0]["id"] == c["shippingAddressIds"][0]
        ),
    ),
    (
        "removeAddress",
        lambda c: {"action": "removeAddress", "addressId": c["addresses"][0]["id"]},
        ["CustomerAddressRemoved"],
        lambda c: (
            len(c["addresses"]) == 1 and "defaultShippingAddressId" not in c and c["shippingAddressIds"] == []
        ),
    ),
    (
        "setDefaultBillingAddress",
        lambda c: {"action": "setDefaultBillingAddress", "addressKey": "home"},
        ["CustomerDefaultBillingAddressSet"],
        lambda c: (
            c["defaultBillingAddressId"] == c["addresses"][0]["id"]
            and c["addresses"][0]["id"] in c["billingAddressIds"]
        ),
    ),
    (
        "setDefaultShippingAddress",
        lambda c: {"action": "setDefaultShippingAddress"},
        ["CustomerDefaultShippingAddressSet"],
        lambda c: "defaultShippingAddressId" not in c,
    ),
    (
        "addBillingAddressId",
        lambda c: {"action": "addBillingAddressId", "addressId": c["addresses"][0]["id"]},
        ["CustomerBillingAddressAdded"],
        lambda c: len(c["billingAddressIds"]) == 2,
    ),
    (
        "removeBillingAddressId",
        lambda c: {"action": "removeBillingAddressId", "addressKey": "work"},
        ["CustomerBillingAddressRemoved"],
        lambda c: c["billingAddressIds"] == [],
    ),
    (
        "addShippingAddressId",
        lambda c: {"action": "addShippingAddressId", "addressKey": "work"},
        ["CustomerShippingAddressAdded"],
        lambda c: len(c["shippingAddressIds"]) == 2,
    ),
    (
        "removeShippingAddressId",
        lambda c: {"action": "removeShippingAddressId", "addressKey": "home"},
        ["CustomerShippingAddressRemoved"],
        lambda c: c["shippingAddressIds"] == [] and "defaultShippingAddressId" not in c,
    ),
    (
        "changeEmail",
        lambda c: {"action": "changeEmail", "email": "new@example.com"},
        ["CustomerEmailChanged"],
        lambda c: c["email"] == "new@example.com" and c["isEmailVerified"] is False,
    ),
    (
        "setFirstName",
        lambda c: {"action": "setFirstName", "firstName": "Bea"},
        ["CustomerFirstNameSet"],
        lambda c: c["firstName"] == "Bea",
    ),
    (
        "unsetFirstName",
        lambda c: {"action": "setFirstName"},
        ["CustomerFirstNameSet"],
        lambda c: "firstName" not in c,
    ),
    (
        "setLastName",
        lambda c: {"action": "setLastName", "lastName": "Lee"},
        ["CustomerLastNameSet"],
        lambda c: c["lastName"] == "Lee",
    ),
    (
        "setMiddleName",
        lambda c: {"action": "setMiddleName", "middleName": "M"},
        [],
        lambda c: c["middleName"] == "M",
    ),
    (
        "setTitle",
        lambda c: {"action": "setTitle", "title": "Dr"},
        ["CustomerTitleSet"],
        lambda c: c["title"] == "Dr",
    ),
    (
        "setSalutation",
        lambda c: {"action": "setSalutation", "salutation": "Mr"},
        [],
        lambda c: c["salutation"] == "Mr",
    ),
    (
        "setDateOfBirth",
        lambda c: {"action": "setDateOfBirth", "dateOfBirth": "1990-01-02"},
        ["CustomerDateOfBirthSet"],
        lambda c: c["dateOfBirth"] == "1990-01-02",
    ),
    (
        "setCompanyName",
        lambda c: {"action": "setCompanyName", "companyName": "ACME"},
        ["CustomerCompanyNameSet"],
        lambda c: c["companyName"] == "ACME",
    ),
    ("setVatId", lambda c: {"action": "setVatId", "vatId": "DE1"}, [], lambda c: c["vatId"] == "DE1"),
    (
        "setCustomerNumber",
        lambda c: {"action": "setCustomerNumber", "customerNumber": "C-9"},
        [],
        lambda c: c["customerNumber"] == "C-9",
    ),
    (
        "setExternalId",
        lambda c: {"action": "setExternalId", "externalId": "x-1"},
        ["CustomerExternalIdSet"],
        lambda c: c["externalId"] == "x-1",
    ),
    ("setKey", lambda c: {"action": "setKey", "key": "new-key"}, [], lambda c: c["key"] == "new-key"),
    ("setLocale", lambda c: {"action": "setLocale", "locale": "de-DE"}, [], lambda c: c["locale"] == "de-DE"),
    (
        "setCustomerGroup",
        lambda c: {"action": "setCustomerGroup", "customerGroup": GROUP},
        ["CustomerGroupSet"],
        lambda c: c["customerGroup"] == GROUP,
    ),
    (
        "addCustomerGroupAssignment",
        lambda c: {
            "action": "addCustomerGroupAssignment",
            "customerGroupAssignment": {"customerGroup": GROUP},
        },
        ["CustomerGroupAssignmentAdded"],
        lambda c: c["customerGroupAssignments"] == [{"customerGroup": GROUP}],
    ),
    (
        "setCustomerGroupAssignments",
        lambda c: {
            "action": "setCustomerGroupAssignments",
            "customerGroupAssignments": [{"customerGroup": GROUP}],
        },
        ["CustomerGroupAssignmentsSet"],
        lambda c: c["customerGroupAssignments"] == [{"customerGroup": GROUP}],
    ),
    (
        "addStore",
        lambda c: {"action": "addStore", "store": {"typeId": "store", "key": "uk-store"}},
        ["CustomerStoresSet"],
        lambda c: [s["key"] for s in c["stores"]] == ["eu-store", "uk-store"],
    ),
    (
        "removeStore",
        lambda c: {"action": "removeStore", "store": {"typeId": "store", "key": "eu-store"}},
        ["CustomerStoresSet"],
        lambda c: c["stores"] == [],
    ),
    (
        "setStores",
        lambda c: {"action": "setStores", "stores": [{"typeId": "store", "key": "us-store"}]},
        ["CustomerStoresSet"],
        lambda c: c["stores"] == [{"typeId": "store", "key": "us-store"}],
    ),
    (
        "setCustomType",
        lambda c: {"action": "setCustomType", "type": PROFILE, "fields": {"loyaltyTier": "gold"}},
        ["CustomerCustomTypeSet"],
        lambda c: c["custom"]["fields"] == {"loyaltyTier": "gold"},
    ),
    (
        "removeCustomType",
        lambda c: {"action": "setCustomType"},
        ["CustomerCustomTypeRemoved"],
        lambda c: "custom" not in c,
    ),
    (
        "setCustomField (add)",
        lambda c: {"action": "setCustomField", "name": "favouriteCategory", "value": "shoes"},
        ["CustomerCustomFieldAdded"],
        lambda c: c["custom"]["fields"]["favouriteCategory"] == "shoes",
    ),
    (
        "setCustomField (change)",
        lambda c: {"action": "setCustomField", "name": "loyaltyTier", "value": "gold"},
        ["CustomerCustomFieldChanged"],
        lambda c: c["custom"]["fields"]["loyaltyTier"] == "gold",
    ),
    (
        "setCustomField (remove)",
        lambda c: {"action": "setCustomField", "name": "newsletterOptIn"},
        ["CustomerCustomFieldRemoved"],
        lambda c: "newsletterOptIn" not in c["custom"]["fields"],
    ),
    (
        "setAddressCustomType",
        lambda c: {
            "action": "setAddressCustomType",
            "addressKey": "home",
            "type": {"typeId": "type", "key": "address-extra"},
            "fields": {"floor": "3"},
        },
        ["CustomerAddressCustomTypeSet"],
        lambda c: c["addresses"][0]["custom"]["fields"] == {"floor": "3"},
    ),
    (
        "setAuthenticationMode",
        lambda c: {"action": "setAuthenticationMode", "authMode": "ExternalAuth"},
        [],
        lambda c: c["authenticationMode"] == "ExternalAuth" and "password" not in c,
    ),
]


@pytest.fixture()
async def customer(api: Api, emu: CommercetoolsEmulator) -> dict[str, Any]:
    emu.refs.types.create(
        {
            "key": "address-extra",
            "name": {"en": "Address extras"},
            "resourceTypeIds": ["address"],
            "fieldDefinitions": [
                {"name": "floor", "label": {"en": "Floor"}, "required": False, "type": {"name": "String"}}
            ],
        },
        actor={"clientId": "test", "isPlatformClient": False},
    )
    draft = {k: v for k, v in base_draft().items() if v is not None}
    return await api.create(draft)


@pytest.mark.parametrize(("name", "build", "messages", "check"), CASES, ids=[c[0] for c in CASES])
async def test_action_effect_and_messages(
    api: Api,
    emu: CommercetoolsEmulator,
    customer: dict[str, Any],
    name: str,
    build: Callable[[dict[str, Any]], dict[str, Any]],
    messages: list[str],
    check: Check,
) -> None:
    status, updated = await api.update(customer, build(customer))
    assert status == 200, updated
    assert updated["version"] == 2, name
    assert check(updated), updated
    written = [m for m in emu.messages if m["resource"]["id"] == customer["id"]][1:]
    assert [m["type"] for m in written] == messages
    for message in written:
        assert message["resourceVersion"] == 2 and message["version"] == 1


async def test_address_messages_carry_address_and_roles(
    api: Api, emu: CommercetoolsEmulator, customer: dict[str, Any]
) -> None:
    home = customer["addresses"][0]
    await api.update(customer, {"action": "removeAddress", "addressId": home["id"]})
    message = emu.messages[-1]
    assert message["type"] == "CustomerAddressRemoved"
    assert message["address"] == home and message["addressRoles"] == ["Shipping"]


async def test_custom_field_messages_carry_values(
    api: Api, emu: CommercetoolsEmulator, customer: dict[str, Any]
) -> None:
    status, updated = await api.update(
        customer,
        {"action": "setCustomField", "name": "loyaltyTier", "value": "platinum"},
        {"action": "setCustomField", "name": "loyaltyPoints", "value": 120},
        {"action": "setCustomField", "name": "newsletterOptIn", "value": None},
    )
    assert status == 200
    changed, added, removed = emu.messages[-3:]
    assert (changed["type"], changed["name"], changed["value"], changed["previousValue"]) == (
        "CustomerCustomFieldChanged", "loyaltyTier", "platinum", "silver",
    )  # fmt: skip
    assert (added["type"], added["name"], added["value"]) == (
        "CustomerCustomFieldAdded",
        "loyaltyPoints",
        120,
    )
    assert (removed["type"], removed["name"]) == ("CustomerCustomFieldRemoved", "newsletterOptIn")
    assert [m["sequenceNumber"] for m in (changed, added, removed)] == [2, 3, 4]
    status, body = await api.update(updated, {"action": "setCustomField", "name": "unknownField", "value": 1})
    assert status == 400 and body["errors"][0]["code"] == "InvalidField"


async def test_email_change_and_stores_messages(
    api: Api, emu: CommercetoolsEmulator, customer: dict[str, Any]
) -> None:
    status, _ = await api.update(
        customer,
        {"action": "changeEmail", "email": "changed@example.com"},
        {"action": "setStores", "stores": [{"typeId": "store", "key": "uk-store"}]},
    )
    assert status == 200
    email, stores = emu.messages[-2:]
    assert (email["email"], email["oldEmail"]) == ("changed@example.com", "base@example.com")
    assert stores["stores"] == [{"typeId": "store", "key": "uk-store"}]
    assert stores["oldStores"] == [{"typeId": "store", "key": "eu-store"}]


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ({"action": "setCustomField", "name": "loyaltyTier", "value": "mega"}, "InvalidField"),
        ({"action": "removeAddress", "addressKey": "nope"}, "InvalidOperation"),
        ({"action": "changeAddress", "addressKey": "home", "address": {"city": "X"}}, "InvalidJsonInput"),
        ({"action": "addAddress", "address": {"key": "home", "country": "DE"}}, "DuplicateField"),
        ({"action": "setKey", "key": "x"}, "InvalidField"),
        ({"action": "setDateOfBirth", "dateOfBirth": "yesterday"}, "InvalidJsonInput"),
        ({"action": "setAuthenticationMode", "authMode": "Password", "password": "x"}, "InvalidInput"),
        ({"action": "setFirstName", "firstName": 5}, "InvalidJsonInput"),
        (
            {"action": "setStores", "stores": [{"typeId": "store", "id": "no-such-store"}]},
            "ReferencedResourceNotFound",
        ),
    ],
)
async def test_invalid_actions(api: Api, customer: dict[str, Any], action: dict[str, Any], code: str) -> None:
    status, body = await api.update(customer, action)
    assert status == 400, body
    assert body["errors"][0]["code"] == code


async def test_set_custom_field_without_a_type_is_an_invalid_operation(api: Api) -> None:
    plain = await api.create({"email": "plain@example.com", "password": "x"})
    status, body = await api.update(
        plain, {"action": "setCustomField", "name": "loyaltyTier", "value": "gold"}
    )
    assert status == 400 and body["errors"][0]["code"] == "InvalidOperation"
    assert "setCustomType" in body["message"]


async def test_customer_number_is_set_once(api: Api) -> None:
    created = await api.create({"email": "n@example.com", "password": "x", "customerNumber": "N-1"})
    status, body = await api.update(created, {"action": "setCustomerNumber", "customerNumber": "N-2"})
    assert status == 400 and body["errors"][0]["code"] == "InvalidOperation"


async def test_changing_email_to_a_taken_one_is_a_duplicate(api: Api, customer: dict[str, Any]) -> None:
    await api.create({"email": "taken@example.com", "password": "x"})
    status, body = await api.update(customer, {"action": "changeEmail", "email": "TAKEN@example.com"})
    assert status == 400 and body["errors"][0]["field"] == "email"
