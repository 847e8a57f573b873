"""Pushed deliveries: every accepted shape, and every malformed input with its precise reason."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from crmsync.connectors.commercetools.events import CUSTOMER_MESSAGE_TYPES
from crmsync.connectors.commercetools.ingress import parse_ingress
from crmsync.errors import IngressError, Recovery
from crmsync.ports import ChangeEvent

from .payloads import CUSTOMER_ID, MESSAGE_ID, body, change, cloudevent, customer, message, pubsub


def one(raw: bytes, headers: dict[str, str] | None = None) -> ChangeEvent:
    events = parse_ingress(raw, headers or {})
    assert len(events) == 1
    return events[0]


def reason_of(raw: bytes, headers: dict[str, str] | None = None) -> str:
    with pytest.raises(IngressError) as info:
        parse_ingress(raw, headers or {})
    assert info.value.status == 400
    assert info.value.recovery is Recovery.PERMANENT
    return info.value.reason


# -- accepted shapes ------------------------------------------------------------------------------
def test_platform_message_maps_every_field() -> None:
    payload = message("CustomerLastNameSet", lastName="Doe", sequence=7, resource_version=9)
    event = one(body(payload))
    assert event.event_id == MESSAGE_ID
    assert event.kind == "customer"
    assert event.resource_id == CUSTOMER_ID
    assert event.event_type == "CustomerLastNameSet"
    assert event.occurred_at == datetime(2022, 10, 25, 13, 30, 9, 760000, tzinfo=UTC)
    assert event.sequence == 7
    assert event.resource_version == 9
    assert event.record is None and event.needs_fetch
    assert not event.deleted and not event.data_erasure
    assert event.correlation_id == MESSAGE_ID
    assert event.raw == payload


def test_customer_created_carries_the_record() -> None:
    event = one(body(message("CustomerCreated", sequence=1, resource_version=1, customer=customer())))
    assert event.record == customer()
    assert not event.needs_fetch


def test_customer_deleted_is_a_deletion_and_keeps_data_erasure() -> None:
    event = one(body(message("CustomerDeleted", email="a@b.com", dataErasure=True)))
    assert event.deleted and event.data_erasure and not event.needs_fetch


def test_payload_not_included_means_no_record() -> None:
    not_included = {"reason": "Payload too large.", "payloadType": "CustomerCreated"}
    payload = message("CustomerCreated", payloadNotIncluded=not_included)
    event = one(body(payload))
    assert event.record is None and event.needs_fetch


def test_payload_not_included_without_type_takes_the_payload_type() -> None:
    payload = message(
        "CustomerDeleted",
        payloadNotIncluded={"reason": "Payload too large.", "payloadType": "CustomerDeleted"},
    )
    del payload["type"]
    event = one(body(payload))
    assert event.event_type == "CustomerDeleted" and event.deleted


def test_unknown_customer_message_type_still_produces_an_event_that_needs_a_fetch() -> None:
    event = one(body(message("CustomerLoyaltyPointsAwarded", points=5)))
    assert event.event_type == "CustomerLoyaltyPointsAwarded"
    assert event.needs_fetch


def test_token_values_are_redacted_from_raw() -> None:
    payload = message(
        "CustomerPasswordTokenCreated",
        customerId=CUSTOMER_ID,
        expiresAt="2022-10-26T00:00:00.000Z",
        value="secret-reset-token",
        invalidateOlderTokens=False,
    )
    event = one(body(payload))
    assert event.raw["value"] == "***"
    assert "secret-reset-token" not in json.dumps(event.raw)


@pytest.mark.parametrize(
    ("notification", "deleted"),
    [("ResourceCreated", False), ("ResourceUpdated", False), ("ResourceDeleted", True)],
)
def test_change_notifications(notification: str, deleted: bool) -> None:
    event = one(
        body(change(notification, version=4, oldVersion=2 if notification == "ResourceUpdated" else None))
    )
    assert event.event_id == f"{CUSTOMER_ID}:4"
    assert event.event_type == notification
    assert event.sequence == 4 and event.resource_version == 4
    assert event.record is None
    assert event.deleted is deleted
    assert event.needs_fetch is not deleted
    assert event.occurred_at == datetime(2022, 10, 25, 13, 23, 40, 577000, tzinfo=UTC)


def test_resource_deleted_with_data_erasure() -> None:
    event = one(body(change("ResourceDeleted", dataErasure=True)))
    assert event.deleted and event.data_erasure


def test_pubsub_envelope_is_decoded() -> None:
    payload = message("CustomerFirstNameSet", firstName="Jane")
    assert one(body(pubsub(payload))) == one(body(payload))


def test_pubsub_envelope_accepts_urlsafe_and_unpadded_base64() -> None:
    payload = message("CustomerFirstNameSet", firstName="Jane?>>")
    raw = json.dumps(payload).encode()
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert one(body(pubsub(None, raw_data=urlsafe))).event_id == MESSAGE_ID


def test_cloudevents_message_and_change() -> None:
    data = message("CustomerCreated", customer=customer())
    event = one(body(cloudevent(data, "com.commercetools.customer.message.CustomerCreated")))
    assert event.record == customer()
    upd = change("ResourceUpdated", version=5)
    upd.pop("notificationType")  # the CloudEvents type says it; data need not repeat it
    event = one(body(cloudevent(upd, "com.commercetools.customer.change.ResourceUpdated")))
    assert event.event_id == f"{CUSTOMER_ID}:5"
    assert event.event_type == "ResourceUpdated"


def test_cloudevent_inside_pubsub() -> None:
    ce = cloudevent(
        message("CustomerEmailVerified"), "com.commercetools.customer.message.CustomerEmailVerified"
    )
    assert one(body(pubsub(ce))).event_type == "CustomerEmailVerified"


def test_eventarc_pubsub_event_headers_do_not_hide_the_envelope() -> None:
    headers = {"ce-specversion": "1.0", "ce-type": "google.cloud.pubsub.topic.v1.messagePublished"}
    payload = message("CustomerTitleSet", title="Dr")
    assert one(body(pubsub(payload)), headers).event_type == "CustomerTitleSet"


def test_cloudevents_binary_mode_in_http_headers_and_pubsub_attributes() -> None:
    data = message("CustomerTitleSet", title="Dr")
    headers = {"Ce-Specversion": "1.0", "Ce-Type": "com.commercetools.customer.message.CustomerTitleSet"}
    assert one(body(data), headers).event_type == "CustomerTitleSet"
    attributes = {"ce-specversion": "1.0", "ce-type": "com.commercetools.customer.message.CustomerTitleSet"}
    assert one(body(pubsub(data, attributes=attributes))).event_type == "CustomerTitleSet"


@pytest.mark.parametrize(
    "raw",
    [
        body(message("PaymentCreated", type_id="payment")),
        body(change("ResourceCreated", type_id="product-selection")),
        body(pubsub(change("ResourceDeleted", type_id="cart"))),
        body(change("ResourceUpdated", type_id="payment")),
        body(
            cloudevent(
                {"notificationType": "Message"},
                "com.commercetools.product-tailoring.message.ProductTailoringPublished",
            )
        ),
        body({"id": "e", "notificationType": "Event", "type": "ImportContainerCreated", "data": {}}),
        body(message("CustomerGroupCustomFieldAdded", type_id="customer-group", name="x", value=1)),
    ],
)
def test_other_resources_are_acknowledged_and_ignored(raw: bytes) -> None:
    assert parse_ingress(raw, {}) == []


def test_every_known_customer_message_type_parses() -> None:
    for message_type, spec in CUSTOMER_MESSAGE_TYPES.items():
        fields: dict[str, Any] = {name: "x" for name in spec.fields}
        if spec.carries_record:
            fields["customer"] = customer()
        event = one(body(message(message_type, **fields)))
        assert event.event_type == message_type
        assert event.deleted is spec.deletes
        assert (event.record is not None) is spec.carries_record


# -- malformed input ------------------------------------------------------------------------------
def _without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    target = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return payload


def _with(payload: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


MALFORMED: list[tuple[bytes, str]] = [
    (b"", "body is empty"),
    (b"   \n", "body is empty"),
    (b"not json", "body is not valid JSON: Expecting value at line 1 column 1"),
    (b'{"a": 1', "body is not valid JSON: Expecting ',' delimiter at line 1 column 8"),
    (b"\xff\xfe\x00", "body is not valid JSON: "),
    (b"NaN", "body is not valid JSON: NaN is not valid JSON"),
    (b"[" * 100_000, "body is not valid JSON: nested too deeply"),
    (b'{"version": ' + b"9" * 5000 + b"}", "body is not valid JSON: a number has too many digits"),
    (b"[1, 2]", "body is not a JSON object (got array)"),
    (b'"text"', "body is not a JSON object (got string)"),
    (b'{"hello": "world"}', "body is not a commercetools payload: expected 'notificationType'"),
    # Pub/Sub envelope
    (body({"message": "x"}), "field 'message' must be an object, got string"),
    (body({"message": {"messageId": "1"}}), "missing field 'message.data'"),
    (body({"message": {"data": 5}}), "field 'message.data' must be a base64 string, got number"),
    (body({"message": {"data": "!!not base64!!"}}), "message.data is not valid base64"),
    (body(pubsub(None, raw_data="")), "message.data is empty"),
    (
        body(pubsub(None, raw_data=base64.b64encode(b"nope").decode())),
        "message.data is not valid JSON: Expecting value at line 1 column 1",
    ),
    (body(pubsub([1, 2])), "message.data is not a JSON object (got array)"),
    (body(pubsub({"x": 1})), "message.data is not a commercetools payload"),
    (body(pubsub(message(), attributes="x")), "field 'message.attributes' must be an object, got string"),  # type: ignore[arg-type]
    # Platform payloads
    (body(_with(message(), "X", "notificationType")), "unsupported notificationType 'X'"),
    (body(_with(message(), 5, "notificationType")), "field 'notificationType' must be a string, got number"),
    (body(_without(message(), "resource")), "missing field 'resource'"),
    (body(_with(message(), [], "resource")), "field 'resource' must be an object, got array"),
    (body(_without(message(), "resource", "id")), "missing field 'resource.id'"),
    (body(_without(message(), "resource", "typeId")), "missing field 'resource.typeId'"),
    (body(_with(message(), 12, "resource", "id")), "field 'resource.id' must be a string, got number"),
    (body(_with(message(), "", "resource", "id")), "field 'resource.id' must not be empty"),
    (
        body(_with(message(), "x" * 300, "resource", "id")),
        "field 'resource.id' is longer than 256 characters",
    ),
    (body(_without(message(), "id")), "missing field 'id'"),
    (body(_without(message(), "type")), "missing field 'type'"),
    (body(message(payloadNotIncluded="big")), "field 'payloadNotIncluded' must be an object, got string"),
    (
        body(_without(message(payloadNotIncluded={"reason": "r"}), "type")),
        "missing field 'payloadNotIncluded.payloadType'",
    ),
    (body(_without(message(), "sequenceNumber")), "missing field 'sequenceNumber'"),
    (body(_with(message(), "2", "sequenceNumber")), "field 'sequenceNumber' must be an integer, got string"),
    (
        body(_with(message(), True, "sequenceNumber")),
        "field 'sequenceNumber' must be an integer, got boolean",
    ),
    (body(_with(message(), 2.5, "sequenceNumber")), "field 'sequenceNumber' must be an integer, got number"),
    (body(_with(message(), 2**70, "sequenceNumber")), "field 'sequenceNumber' is out of range (0..2^63-1)"),
    (body(_with(message(), -1, "resourceVersion")), "field 'resourceVersion' is out of range (0..2^63-1)"),
    (body(_without(message(), "createdAt")), "missing field 'createdAt'"),
    (
        body(_with(message(), "yesterday", "createdAt")),
        "field 'createdAt' is not an ISO 8601 timestamp: 'yesterday'",
    ),
    (body(_with(message(), 1666704609, "createdAt")), "field 'createdAt' must be a string, got number"),
    (body(_with(message(), "yes", "dataErasure")), "field 'dataErasure' must be a boolean, got string"),
    (body(message("CustomerCreated", customer="x")), "field 'customer' must be an object, got string"),
    (
        body(message("CustomerCreated", customer=customer("other"))),
        "field 'customer.id' does not match 'resource.id'",
    ),
    (body(_without(change(), "version")), "missing field 'version'"),
    (body(_with(change(), "3", "version")), "field 'version' must be an integer, got string"),
    (body(_with(change(), "x", "oldVersion")), "field 'oldVersion' must be an integer, got string"),
    (body(_without(change(), "modifiedAt")), "missing field 'modifiedAt'"),
    (
        body(_with(change(), "2022-13-45T00:00:00Z", "modifiedAt")),
        "field 'modifiedAt' is not an ISO 8601 timestamp",
    ),
    # CloudEvents
    (
        body(
            _with(
                cloudevent(message(), "com.commercetools.customer.message.CustomerLastNameSet"),
                "0.1",
                "specversion",
            )
        ),
        "unsupported CloudEvents specversion '0.1' (expected '1.0')",
    ),
    (
        body(_with(cloudevent(message(), "x"), 1, "specversion")),
        "unsupported CloudEvents specversion 'number'",
    ),
    (
        body(cloudevent(message(), "com.example.customer.created")),
        "unsupported CloudEvents type 'com.example.customer.created'",
    ),
    (body(cloudevent(message(), "com.commercetools.customer.event.X")), "unsupported CloudEvents type"),
    (body(_without(cloudevent(message(), "x"), "type")), "missing field 'type'"),
    (
        body(
            _without(cloudevent(message(), "com.commercetools.customer.message.CustomerLastNameSet"), "data")
        ),
        "missing field 'data'",
    ),
    (
        body(
            _with(
                cloudevent(message(), "com.commercetools.customer.message.CustomerLastNameSet"), "x", "data"
            )
        ),
        "field 'data' must be an object, got string",
    ),
    (
        body(
            cloudevent(
                _without(message(), "resource", "id"),
                "com.commercetools.customer.message.CustomerLastNameSet",
            )
        ),
        "missing field 'data.resource.id'",
    ),
    (
        body(cloudevent(change("ResourceCreated"), "com.commercetools.customer.change.ResourceUpdated")),
        "field 'data.notificationType' is 'ResourceCreated' but the CloudEvents type says 'ResourceUpdated'",
    ),
    (
        body(cloudevent(message("CustomerTitleSet"), "com.commercetools.customer.message.CustomerCreated")),
        "field 'data.type' does not match the CloudEvents type 'CustomerCreated'",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), MALFORMED, ids=[r for _, r in MALFORMED])
def test_malformed_input_has_a_precise_reason(raw: bytes, expected: str) -> None:
    assert reason_of(raw).startswith(expected)


def test_binary_mode_with_non_object_body() -> None:
    headers = {"ce-specversion": "1.0", "ce-type": "com.commercetools.customer.message.CustomerTitleSet"}
    assert reason_of(b"[1]", headers) == "body is not a JSON object (got array)"


def test_body_must_be_bytes() -> None:
    with pytest.raises(IngressError, match="body must be bytes, got str"):
        parse_ingress("{}", {})  # type: ignore[arg-type]


def test_oversized_body_is_refused_without_parsing() -> None:
    raw = b" " * (16 * 1024 * 1024 + 1)
    assert reason_of(raw).startswith("body is larger than")
