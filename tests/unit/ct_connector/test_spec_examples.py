"""The vendor's own example payloads (commercetools-api-reference) parse through the connector."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from crmsync.connectors.commercetools.events import CUSTOMER_MESSAGE_TYPES, message_to_event
from crmsync.connectors.commercetools.ingress import parse_ingress

pytestmark = pytest.mark.specs

# Customer-group resource messages whose names start with "Customer" (resource.typeId "customer-group").
CUSTOMER_GROUP_MESSAGES = {
    "CustomerGroupCustomFieldAdded",
    "CustomerGroupCustomFieldChanged",
    "CustomerGroupCustomFieldRemoved",
    "CustomerGroupCustomTypeRemoved",
    "CustomerGroupCustomTypeSet",
}


@pytest.fixture(scope="module")
def examples(specs_dir: Path) -> Path:
    return specs_dir / "commercetools" / "examples"


def load(examples: Path, name: str) -> Any:
    return json.loads((examples / name).read_text())


def raw(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_customer_example_travels_in_a_customer_created_message(examples: Path) -> None:
    customer = load(examples, "customer.example.json")
    payload = load(examples, "Subscription/message-payload.example.json")
    payload.update(
        type="CustomerCreated", customer=customer, resource={"typeId": "customer", "id": customer["id"]}
    )
    (event,) = parse_ingress(raw(payload), {})
    assert event.record == customer
    assert event.resource_id == "3cdcdcc8-80c5-41bb-abb5-ac8772c9cc24"


def test_message_examples_are_for_payments_and_are_ignored(examples: Path) -> None:
    single = load(examples, "message.example.json")
    assert message_to_event(single) is None
    assert parse_ingress(raw({"notificationType": "Message", **single}), {}) == []
    page = load(examples, "messages.example.json")
    assert page["results"] and all(message_to_event(m) is None for m in page["results"])


def test_subscription_message_payload(examples: Path) -> None:
    (event,) = parse_ingress(raw(load(examples, "Subscription/message-payload.example.json")), {})
    assert (event.event_id, event.resource_id, event.event_type) == (
        "<message_id>",
        "<customer_id>",
        "CustomerLastNameSet",
    )
    assert (event.sequence, event.resource_version) == (2, 2)
    assert event.raw["lastName"] == "Doe"


def test_subscription_message_payload_in_a_pubsub_envelope(examples: Path) -> None:
    payload = (examples / "Subscription/message-payload.example.json").read_bytes()
    envelope = {
        "message": {"data": base64.b64encode(payload).decode(), "messageId": "1"},
        "subscription": "s",
    }
    (event,) = parse_ingress(raw(envelope), {})
    assert event.event_type == "CustomerLastNameSet"


def test_cloudevents_example_is_a_product_published_event(examples: Path) -> None:
    ce = load(examples, "Subscription/cloudevents-payload.example.json")
    (event,) = parse_ingress(raw(ce), {})
    assert (event.kind, event.resource_id, event.event_type) == (
        "product",
        "b32d1013-cd25-4cb4-95ab-99c494531d73",
        "ProductPublished",
    )
    assert event.needs_fetch and not event.deleted  # re-read like every product event
    # the same envelope for a customer message is parsed from its Platform ``data``
    ce["type"] = "com.commercetools.customer.message.ProductPublished"
    ce["data"]["resource"]["typeId"] = "customer"
    (event,) = parse_ingress(raw(ce), {})
    assert (event.event_id, event.sequence) == ("81ee6da8-5bc2-471b-9159-89bac735a45d", 2)


@pytest.mark.parametrize(
    ("name", "deleted"),
    [
        ("resource-created-payload.example.json", False),
        ("resource-updated-payload.example.json", False),
        ("resource-deleted-payload.example.json", True),
    ],
)
def test_change_examples(examples: Path, name: str, deleted: bool) -> None:
    payload = load(examples, f"Subscription/{name}")
    for type_id in ("product", "customer", "category"):  # the examples are products
        payload["resource"]["typeId"] = type_id
        (event,) = parse_ingress(raw(payload), {})
        assert event.kind == type_id
        assert event.event_id == f"{payload['resource']['id']}:{payload['version']}"
        assert event.deleted is deleted and event.record is None


def test_payload_not_included_example(examples: Path) -> None:
    not_included = load(examples, "Subscription/payload-not-included.example.json")
    payload = load(examples, "Subscription/message-payload.example.json")
    payload.update(type="CustomerCreated", payloadNotIncluded=not_included)
    payload.pop("lastName")
    (event,) = parse_ingress(raw(payload), {})
    assert event.record is None and event.needs_fetch
    payload.pop("type")  # the delivery payload schema does not require it: payloadType names it
    (event,) = parse_ingress(raw(payload), {})
    assert event.event_type == "ProductPublished" and event.needs_fetch


def test_event_payload_example_is_acknowledged(examples: Path) -> None:
    assert parse_ingress((examples / "Subscription/event-payload.example.json").read_bytes(), {}) == []


def test_message_type_table_matches_the_openapi(specs_dir: Path) -> None:
    spec = (specs_dir / "commercetools" / "openapi.yaml").read_text()
    names = set(re.findall(r"^    (Customer\w+)Message:$", spec, flags=re.MULTILINE))
    assert names, "no Customer*Message schemas found in the OpenAPI"
    assert names - CUSTOMER_GROUP_MESSAGES == set(CUSTOMER_MESSAGE_TYPES)
