"""The vendor's own example payloads are accepted, and what the emulator produces has their shape.

Reads ``../shared/specs/commercetools`` (examples and, for field names, the OpenAPI document).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.commercetools.delivery import change_payload, cloud_event, message_payload
from crmsync.emulators.commercetools.messages import Change

from .conftest import PROJECT, Api

pytestmark = pytest.mark.specs

GROUP_IDS = {
    "customer-group-id": "0d3c6f3e-0000-4000-8000-000000000001",
    "customer-group-id-1": "0d3c6f3e-0000-4000-8000-000000000002",
    "customer-group-id-2": "0d3c6f3e-0000-4000-8000-000000000003",
}
NOT_UPDATE_ACTIONS = {"CustomerChangeCustomerPasswordAction.json"}  # a request body, not an action


def examples(specs_dir: Path) -> Path:
    return specs_dir / "commercetools" / "examples"


def load(specs_dir: Path, name: str) -> Any:
    return json.loads((examples(specs_dir) / name).read_text())


@cache
def _openapi_text(path: str) -> str:
    return Path(path).read_text()


def schema_properties(specs_dir: Path, schema: str) -> set[str]:
    """Property names of one ``components.schemas`` entry, read from the YAML text without parsing 3 MB."""
    text = _openapi_text(str(specs_dir / "commercetools" / "openapi.yaml"))
    match = re.search(rf"^    {re.escape(schema)}:\n((?:(?:      .*)?\n)+)", text, re.MULTILINE)
    assert match is not None, schema
    block = match.group(1)
    in_all_of = set(re.findall(r"^ {12}([A-Za-z]+):\n", block, re.MULTILINE))  # allOf: [{properties: …}]
    plain = set(re.findall(r"^ {8}([A-Za-z]+):\n {10}(?:type|\$ref|items|format|enum)", block, re.MULTILINE))
    return in_all_of | (plain - {"items", "additionalProperties"})


async def test_customer_example_round_trips(specs_dir: Path, api: Api) -> None:
    created = await api.create(load(specs_dir, "customer-create.example.json"))
    example = load(specs_dir, "customer.example.json")
    assert set(created) == set(example)
    for name, value in example.items():
        assert type(created[name]) is type(value), name
    assert created["password"].startswith("****") and len(created["password"]) == len(example["password"])
    status, sign_in = await api.post(
        "/customers", {**load(specs_dir, "customer-create.example.json"), "email": "x@example.com"}
    )
    assert status == 201 and set(sign_in) <= set(load(specs_dir, "customer-sign-in-result.example.json"))


async def test_customers_page_matches_the_example(specs_dir: Path, api: Api) -> None:
    await api.create(load(specs_dir, "customer-create.example.json"))
    status, page = await api.get("/customers", limit="1")
    example = load(specs_dir, "customers.example.json")
    assert status == 200 and list(page) == list(example)


async def test_every_customer_field_we_render_is_a_spec_field(specs_dir: Path, api: Api) -> None:
    from crmsync.emulators.commercetools import generate_customer_drafts

    customer_fields = schema_properties(specs_dir, "Customer")
    address_fields = schema_properties(specs_dir, "Address")
    assert {"email", "addresses", "stores"} <= customer_fields and {"country", "mobile"} <= address_fields
    for draft in generate_customer_drafts(40, seed=1):
        customer = await api.create(draft)
        assert set(customer) <= customer_fields
        for address in customer["addresses"]:
            assert set(address) <= address_fields


@dataclass
class Prepared:
    """Creates customers that every vendor action example can apply to, with the placeholder values."""

    api: Api
    type_id: str
    count: int = 0

    async def customer(self) -> tuple[dict[str, Any], dict[str, str]]:
        self.count += 1
        customer = await self.api.create(
            {
                "email": f"examples{self.count}@example.com",
                "password": "secret",
                "addresses": [{"key": "first", "country": "DE"}, {"key": "second", "country": "DE"}],
                "billingAddresses": [0],
                "shippingAddresses": [0],
                "stores": [{"typeId": "store", "key": "eu-store"}],
                "customerGroupAssignments": [
                    {"customerGroup": {"typeId": "customer-group", "id": GROUP_IDS["customer-group-id"]}}
                ],
                "custom": {"type": {"typeId": "type", "key": "example-type"}},
            }
        )
        return customer, {"type-id": self.type_id, **GROUP_IDS}


def placeholders(file_name: str, customer: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
    """Values that make the example a real change: remove what exists, add what does not yet."""
    removing = "Remove" in file_name
    address_id = customer["addresses"][0 if removing else 1]["id"]
    values = {**base, "addressId": address_id, "address-id": address_id}
    values["store-key"] = "eu-store" if removing else "uk-store"
    if not removing:
        values["customer-group-id"] = "0d3c6f3e-0000-4000-8000-00000000000a"
    return values


@pytest.fixture()
def prepared(api: Api, emu: CommercetoolsEmulator) -> Prepared:
    example_type = emu.refs.types.create(
        {
            "key": "example-type",
            "name": {"en": "Example"},
            "resourceTypeIds": ["customer", "address"],
            "fieldDefinitions": [
                {
                    "name": "exampleStringField",
                    "label": {"en": "x"},
                    "required": False,
                    "type": {"name": "String"},
                }
            ],
        },
        {"clientId": "test", "isPlatformClient": False},
    )
    return Prepared(api, example_type["id"])


def fill(template: str, values: dict[str, str]) -> Any:
    return json.loads(re.sub(r"\{\{([a-z0-9-]+|[A-Za-z]+)\}\}", lambda m: values[m.group(1)], template))


async def test_vendor_update_action_examples_are_accepted(
    specs_dir: Path, api: Api, emu: CommercetoolsEmulator, prepared: Prepared
) -> None:
    files = sorted(
        p
        for p in (examples(specs_dir) / "Customer").glob("Customer*Action.json")
        if p.name not in NOT_UPDATE_ACTIONS
    )
    assert len(files) >= 35
    applied: list[str] = []
    for path in files:
        customer, base = await prepared.customer()
        values = placeholders(path.name, customer, base)
        action = fill(path.read_text(), values)
        if action["action"] == "setAddressCustomField":
            address_type = {
                "action": "setAddressCustomType",
                "addressId": values["addressId"],
                "type": {"typeId": "type", "id": values["type-id"]},
            }
            status, customer = await api.update(customer, address_type)
            assert status == 200, customer
        status, body = await api.update(customer, action)
        assert status == 200, (path.name, body)
        assert body["version"] == customer["version"] + 1, path.name
        applied.append(action["action"])
    assert {"addAddress", "changeAddress", "setCustomField", "setStores", "setAuthenticationMode"} <= set(
        applied
    )
    message_types = {m["type"] for m in emu.messages}
    assert {
        "CustomerAddressAdded",
        "CustomerGroupAssignmentRemoved",
        "CustomerAddressCustomFieldAdded",
    } <= message_types
    for message in emu.messages:
        allowed = schema_properties(specs_dir, f"{message['type']}Message")
        assert set(message) <= allowed, (message["type"], set(message) - allowed)


async def test_deleted_message_fields_are_spec_fields(
    specs_dir: Path, api: Api, emu: CommercetoolsEmulator
) -> None:
    customer = await api.create({"email": "gone@example.com", "password": "x"})
    await api.call("DELETE", f"/customers/{customer['id']}", params={"version": 1})
    deleted = emu.messages[-1]
    assert deleted["type"] == "CustomerDeleted"
    assert set(deleted) <= schema_properties(specs_dir, "CustomerDeletedMessage")


async def test_platform_payloads_match_the_subscription_examples(
    specs_dir: Path, emu: CommercetoolsEmulator
) -> None:
    customer = emu.create_customer({"email": "p@example.com", "password": "x"})
    emu.update_customer(customer["id"], 1, [{"action": "setLastName", "lastName": "Doe"}])
    message = emu.messages[-1]
    payload = message_payload(PROJECT, message)
    example = load(specs_dir, "Subscription/message-payload.example.json")
    assert set(payload) == set(example)
    assert payload["type"] == example["type"] and payload["lastName"] == "Doe"
    for kind, name in (
        ("ResourceCreated", "created"),
        ("ResourceUpdated", "updated"),
        ("ResourceDeleted", "deleted"),
    ):
        change = Change(kind, "customer", customer["id"], {"key": "k"}, 3, 1, "2024-01-01T00:00:00.000Z")
        expected = load(specs_dir, f"Subscription/resource-{name}-payload.example.json")
        assert set(change_payload(PROJECT, change)) == set(expected), kind
    event = cloud_event(PROJECT, payload)
    cloud_example = load(specs_dir, "Subscription/cloudevents-payload.example.json")
    assert set(event) == set(cloud_example)
    assert event["type"] == "com.commercetools.customer.message.CustomerLastNameSet"
    assert event["source"] == f"/{PROJECT}/customers" and event["sequence"] == "2"
    too_big = message_payload(PROJECT, emu.messages[0], max_bytes=100)
    assert too_big["payloadNotIncluded"] == {"reason": "Payload too large.", "payloadType": "CustomerCreated"}
    assert set(load(specs_dir, "Subscription/payload-not-included.example.json")) == set(
        too_big["payloadNotIncluded"]
    )


async def test_error_and_custom_object_examples(specs_dir: Path, api: Api) -> None:
    assert await api.call("GET", "/customers", headers={"Authorization": "Bearer x"}) == (
        401,
        load(specs_dir, "Error/AuthErrorResponse.json"),
    )
    status, body = await api.get("/customers/nope")
    assert set(body) == set(load(specs_dir, "error.example.json"))
    status, created = await api.post("/custom-objects", load(specs_dir, "custom-object-create.example.json"))
    assert status == 201 and set(load(specs_dir, "custom-object.example.json")) <= set(created)
    status, page = await api.get("/custom-objects/test-container")
    assert list(page) == list(load(specs_dir, "custom-objects.example.json"))
