"""commercetools messages and change notifications → :class:`crmsync.ports.ChangeEvent` (pure).

The same mapping serves the polled Messages API (:mod:`.feed`) and pushed Subscription payloads
(:mod:`.ingress`), so an event looks the same whichever way it arrived and deduplicates against
the other (``event_id`` = message id; ``"<resource id>:<version>"`` for change notifications).

Everything here validates as it reads and raises :class:`crmsync.errors.IngressError` with the
exact field that was wrong: pushed input is untrusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crmsync.errors import IngressError
from crmsync.ports import ChangeEvent

# commercetools resource typeId -> crmsync entity kind. Payment messages (refund transactions)
# belong to the order that references the payment: they become order events whose resource id is
# ``payment:<payment id>`` until the connector resolves it to the order (``resolve_events``).
RESOURCE_KINDS: Mapping[str, str] = {
    "customer": "customer",
    "order": "order",
    "payment": "order",
    "category": "category",
    "product": "product",
}
KIND_TYPE_IDS: Mapping[str, tuple[str, ...]] = {
    kind: tuple(t for t, k in RESOURCE_KINDS.items() if k == kind) for kind in set(RESOURCE_KINDS.values())
}
PAYMENT_PREFIX = "payment:"

CHANGE_NOTIFICATIONS = frozenset({"ResourceCreated", "ResourceUpdated", "ResourceDeleted"})
MAX_ID_LENGTH = 256
MAX_INT = 2**63 - 1  # the API's int64
REDACTED = "***"


@dataclass(frozen=True)
class MessageType:
    """What one message type carries beyond the common message fields (from the vendor's RAML)."""

    fields: tuple[str, ...] = ()
    carries_record: bool = False  # the full resource is in the message: no re-read needed
    record_field: str = "customer"  # where the message carries it
    deletes: bool = False
    sensitive: tuple[str, ...] = ()  # fields replaced by "***" in ``ChangeEvent.raw``


# Every message type of the customer resource (resource.typeId == "customer"), checked against
# the vendor OpenAPI by tests/unit/ct_connector. Unknown types still become events that need a
# fetch, so a new vendor message type is never lost.
CUSTOMER_MESSAGE_TYPES: Mapping[str, MessageType] = {
    "CustomerCreated": MessageType(("customer",), carries_record=True),
    "CustomerDeleted": MessageType(("email",), deletes=True),
    "CustomerEmailChanged": MessageType(("email", "oldEmail")),
    "CustomerEmailVerified": MessageType(),
    "CustomerEmailTokenCreated": MessageType(
        ("customerId", "expiresAt", "value", "invalidateOlderTokens"), sensitive=("value",)
    ),
    "CustomerPasswordTokenCreated": MessageType(
        ("customerId", "expiresAt", "value", "invalidateOlderTokens"), sensitive=("value",)
    ),
    "CustomerPasswordUpdated": MessageType(("reset",)),
    "CustomerFirstNameSet": MessageType(("firstName",)),
    "CustomerLastNameSet": MessageType(("lastName",)),
    "CustomerTitleSet": MessageType(("title",)),
    "CustomerCompanyNameSet": MessageType(("companyName",)),
    "CustomerDateOfBirthSet": MessageType(("dateOfBirth",)),
    "CustomerExternalIdSet": MessageType(("externalId",)),
    "CustomerGroupSet": MessageType(("customerGroup",)),
    "CustomerGroupAssignmentAdded": MessageType(("customerGroupAssignment",)),
    "CustomerGroupAssignmentRemoved": MessageType(("customerGroupAssignment",)),
    "CustomerGroupAssignmentsSet": MessageType(("customerGroupAssignments", "oldCustomerGroupAssignments")),
    "CustomerStoresSet": MessageType(("stores", "oldStores")),
    "CustomerAddressAdded": MessageType(("address",)),
    "CustomerAddressChanged": MessageType(("address", "addressRoles")),
    "CustomerAddressRemoved": MessageType(("address", "addressRoles")),
    "CustomerDefaultBillingAddressSet": MessageType(("address",)),
    "CustomerDefaultShippingAddressSet": MessageType(("address",)),
    "CustomerBillingAddressAdded": MessageType(("address",)),
    "CustomerBillingAddressRemoved": MessageType(("address",)),
    "CustomerShippingAddressAdded": MessageType(("address",)),
    "CustomerShippingAddressRemoved": MessageType(("address",)),
    "CustomerCustomTypeSet": MessageType(("customFields", "previousTypeId")),
    "CustomerCustomTypeRemoved": MessageType(("previousTypeId",)),
    "CustomerCustomFieldAdded": MessageType(("name", "value")),
    "CustomerCustomFieldChanged": MessageType(("name", "value", "previousValue")),
    "CustomerCustomFieldRemoved": MessageType(("name",)),
    "CustomerAddressCustomTypeSet": MessageType(("customFields", "previousTypeId", "addressId")),
    "CustomerAddressCustomTypeRemoved": MessageType(("previousTypeId", "addressId")),
    "CustomerAddressCustomFieldAdded": MessageType(("name", "value", "addressId")),
    "CustomerAddressCustomFieldChanged": MessageType(("name", "value", "previousValue", "addressId")),
    "CustomerAddressCustomFieldRemoved": MessageType(("name", "addressId")),
}
# Order messages. None carries a record the engine can use as is: OrderCreated/OrderImported hold
# the order without its expanded payments and without the state-change times the events need, so
# every order event re-reads the order (one batched read per cycle). Unknown types re-read too.
ORDER_MESSAGE_TYPES: Mapping[str, MessageType] = {
    "OrderCreated": MessageType(("order",)),
    "OrderImported": MessageType(("order",)),
    "OrderCreatedFromRecurringOrder": MessageType(("order", "recurringOrderRef")),
    "OrderDeleted": MessageType(("order",), deletes=True),
    "OrderStateChanged": MessageType(("orderState", "oldOrderState")),
    "OrderStateTransition": MessageType(("state", "oldState", "force")),
    "OrderShipmentStateChanged": MessageType(("shipmentState", "oldShipmentState")),
    "OrderPaymentStateChanged": MessageType(("paymentState", "oldPaymentState")),
    "OrderPaymentAdded": MessageType(("payment",)),
    "OrderPaymentRemoved": MessageType(("payment", "removedPaymentInfo")),
    "OrderReturnShipmentStateChanged": MessageType(("returnItemId", "returnShipmentState")),
    "ReturnInfoAdded": MessageType(("returnInfo",)),
    "ReturnInfoSet": MessageType(("returnInfo",)),
    "OrderCustomerEmailSet": MessageType(("email", "oldEmail")),
    "OrderCustomerSet": MessageType(("customer", "customerGroup", "oldCustomer", "oldCustomerGroup")),
    "OrderLineItemAdded": MessageType(("lineItem", "addedQuantity")),
    "OrderLineItemRemoved": MessageType(("lineItemId", "removedQuantity")),
    "OrderDiscountCodeAdded": MessageType(("discountCode",)),
    "OrderDiscountCodeRemoved": MessageType(("discountCode",)),
    "OrderStoreSet": MessageType(("store",)),
}
# Category messages: only these two exist (apis.md §1.6, the OpenAPI's Category*Message schemas).
# Renames, moves (changeParent) and the rest write no Message: they are seen as ResourceUpdated
# change notifications (Subscriptions) or by the ``lastModifiedAt`` scan (:mod:`.catalog`); a deletion
# is only a ResourceDeleted change notification. CategoryCreated carries the category without its
# ancestors expanded, which the catalog name needs: every category event re-reads.
CATEGORY_MESSAGE_TYPES: Mapping[str, MessageType] = {
    "CategoryCreated": MessageType(("category",)),
    "CategorySlugChanged": MessageType(("slug", "oldSlug")),
}
# Messages of the product resource (resource.typeId "product"; the ProductSelection*, ProductTailoring*
# and ProductVariantTailoring* messages belong to other resources). ProductCreated holds the *staged*
# projection and ProductPublished the published one, but for one path for all (and the unpublished
# case, see CommercetoolsConnector.read_by_ids) every product event re-reads; only ProductDeleted is
# a deletion. ProductUnpublished is not: the re-read returns the product with ``published: false``.
PRODUCT_MESSAGE_TYPES: Mapping[str, MessageType] = {
    "ProductCreated": MessageType(("productProjection",)),
    "ProductPublished": MessageType(("removedImageUrls", "productProjection", "scope")),
    "ProductUnpublished": MessageType(),
    "ProductDeleted": MessageType(("removedImageUrls", "currentProjection"), deletes=True),
    "ProductRevertedStagedChanges": MessageType(("removedImageUrls",)),
    "ProductSlugChanged": MessageType(("slug", "oldSlug")),
    "ProductStateTransition": MessageType(("state", "force")),
    "ProductAddedToCategory": MessageType(("category", "staged")),
    "ProductRemovedFromCategory": MessageType(("category", "staged")),
    "ProductImageAdded": MessageType(("variantId", "image", "staged")),
    "ProductVariantAdded": MessageType(("variant", "staged")),
    "ProductVariantDeleted": MessageType(("variant", "removedImageUrls", "staged")),
    "ProductPriceAdded": MessageType(("variantId", "price", "staged")),
    "ProductPriceChanged": MessageType(("variantId", "oldPrice", "newPrice", "staged", "oldStagedPrice")),
    "ProductPriceRemoved": MessageType(("variantId", "price", "staged")),
    "ProductPricesSet": MessageType(("variantId", "prices", "staged")),
    "ProductPriceKeySet": MessageType(("variantId", "priceId", "oldKey", "key", "staged")),
    "ProductPriceModeSet": MessageType(("to",)),
    "ProductPriceDiscountsSet": MessageType(("updatedPrices",)),
    "ProductPriceExternalDiscountSet": MessageType(
        ("variantId", "variantKey", "sku", "priceId", "discounted", "staged")
    ),
    "ProductPriceCustomFieldAdded": MessageType(("priceId", "variantId", "staged", "name", "value")),
    "ProductPriceCustomFieldChanged": MessageType(("priceId", "variantId", "staged", "name", "value")),
    "ProductPriceCustomFieldRemoved": MessageType(("priceId", "variantId", "staged", "name")),
    "ProductPriceCustomFieldsRemoved": MessageType(("priceId", "variantId", "staged")),
    "ProductPriceCustomFieldsSet": MessageType(
        ("priceId", "variantId", "staged", "customField", "oldTypeId")
    ),
}
PAYMENT_MESSAGE_TYPES: Mapping[str, MessageType] = {
    "PaymentTransactionAdded": MessageType(("transaction",)),
    "PaymentTransactionStateChanged": MessageType(("transactionId", "state")),
}
MESSAGE_TYPES: Mapping[str, Mapping[str, MessageType]] = {
    "customer": CUSTOMER_MESSAGE_TYPES,
    "order": ORDER_MESSAGE_TYPES,
    "payment": PAYMENT_MESSAGE_TYPES,
    "category": CATEGORY_MESSAGE_TYPES,
    "product": PRODUCT_MESSAGE_TYPES,
}
_UNKNOWN = MessageType()


# -- validating readers ------------------------------------------------------------------------
def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _lookup(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj or obj[key] is None:
        raise IngressError(f"missing field '{where}{key}'")
    return obj[key]


def req_object(obj: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = _lookup(obj, key, where)
    if not isinstance(value, dict):
        raise IngressError(f"field '{where}{key}' must be an object, got {json_type(value)}")
    return value


def req_str(obj: Mapping[str, Any], key: str, where: str = "", *, max_length: int = MAX_ID_LENGTH) -> str:
    value = _lookup(obj, key, where)
    if not isinstance(value, str):
        raise IngressError(f"field '{where}{key}' must be a string, got {json_type(value)}")
    if not value:
        raise IngressError(f"field '{where}{key}' must not be empty")
    if len(value) > max_length:
        raise IngressError(f"field '{where}{key}' is longer than {max_length} characters")
    return value


def to_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise IngressError(f"field '{name}' must be an integer, got {json_type(value)}")
    if not 0 <= value <= MAX_INT:
        raise IngressError(f"field '{name}' is out of range (0..2^63-1)")
    return value


def req_int(obj: Mapping[str, Any], key: str, where: str = "") -> int:
    return to_int(_lookup(obj, key, where), f"{where}{key}")


def parse_timestamp(value: Any, name: str) -> datetime:
    """ISO 8601 as the API writes it (``2022-10-25T13:30:09.760Z``); naive values are taken as UTC."""
    if not isinstance(value, str):
        raise IngressError(f"field '{name}' must be a string, got {json_type(value)}")
    if len(value) > 64:
        raise IngressError(f"field '{name}' is not an ISO 8601 timestamp (too long)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise IngressError(f"field '{name}' is not an ISO 8601 timestamp: {value[:40]!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def req_timestamp(obj: Mapping[str, Any], key: str, where: str = "") -> datetime:
    return parse_timestamp(_lookup(obj, key, where), f"{where}{key}")


def opt_bool(obj: Mapping[str, Any], key: str, where: str = "") -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise IngressError(f"field '{where}{key}' must be a boolean, got {json_type(value)}")
    return value


def resource_kind(payload: Mapping[str, Any], where: str = "") -> str | None:
    """The crmsync kind of the payload's ``resource``, or None for resource types we do not sync."""
    resource = req_object(payload, "resource", where)
    type_id = req_str(resource, "typeId", f"{where}resource.")
    return RESOURCE_KINDS.get(type_id)


# -- mapping -------------------------------------------------------------------------------------
def _redact(message: Mapping[str, Any], spec: MessageType) -> dict[str, Any]:
    raw = dict(message)
    for name in spec.sensitive:
        if name in raw:
            raw[name] = REDACTED
    return raw


def message_to_event(message: Mapping[str, Any], where: str = "") -> ChangeEvent | None:
    """A Message (from ``GET /messages`` or a ``notificationType: "Message"`` payload).

    Returns None for resources other than the synchronised kinds (acknowledged, ignored).
    ``payloadNotIncluded`` (payload too large for the destination) means the type-specific fields
    are missing: the event then carries no record, and the engine re-reads the resource.
    """
    kind = resource_kind(message, where)
    if kind is None:
        return None
    resource = req_object(message, "resource", where)
    resource_id = req_str(resource, "id", f"{where}resource.")
    message_id = req_str(message, "id", where)
    not_included = message.get("payloadNotIncluded") is not None
    if not_included and message.get("type") is None:
        # a delivery payload without its type-specific part may omit ``type`` as well
        omitted = req_object(message, "payloadNotIncluded", where)
        message_type = req_str(omitted, "payloadType", f"{where}payloadNotIncluded.", max_length=128)
    else:
        message_type = req_str(message, "type", where, max_length=128)
        if not_included:
            req_object(message, "payloadNotIncluded", where)
    type_id = str(resource.get("typeId"))
    if type_id == "payment" and message_type not in PAYMENT_MESSAGE_TYPES:
        return None  # only transactions matter for orders (refunds); the rest is acknowledged
    spec = MESSAGE_TYPES.get(type_id, {}).get(message_type, _UNKNOWN)
    record: dict[str, Any] | None = None
    field = spec.record_field
    if spec.carries_record and not not_included and message.get(field) is not None:
        carried = req_object(message, field, where)
        carried_id = carried.get("id")
        if carried_id is not None and carried_id != resource_id:
            raise IngressError(f"field '{where}{field}.id' does not match '{where}resource.id'")
        record = dict(carried)
    sequence: int | None = req_int(message, "sequenceNumber", where)
    resource_version: int | None = req_int(message, "resourceVersion", where)
    if type_id == "payment":
        # the payment's own sequence and version say nothing about the order's: no ordering claim
        resource_id, sequence, resource_version = PAYMENT_PREFIX + resource_id, None, None
    return ChangeEvent(
        event_id=message_id,
        kind=kind,
        resource_id=resource_id,
        event_type=message_type,
        occurred_at=req_timestamp(message, "createdAt", where),
        sequence=sequence,
        resource_version=resource_version,
        record=record,
        deleted=spec.deletes,
        data_erasure=opt_bool(message, "dataErasure", where),
        correlation_id=message_id,
        raw=_redact(message, spec),
    )


def change_to_event(payload: Mapping[str, Any], where: str = "") -> ChangeEvent | None:
    """A ResourceCreated / ResourceUpdated / ResourceDeleted change notification.

    Change notifications never carry the resource, so every one but a deletion needs a fetch; the
    resource ``version`` orders them per resource and makes the dedup key. For categories they are
    the only sign of a rename or a move (no Message) and ResourceDeleted the only one of a deletion.
    """
    notification = req_str(payload, "notificationType", where, max_length=64)
    kind = resource_kind(payload, where)
    if kind is None:
        return None
    resource = req_object(payload, "resource", where)
    resource_id = req_str(resource, "id", f"{where}resource.")
    version = req_int(payload, "version", where)
    if "oldVersion" in payload and payload["oldVersion"] is not None:
        req_int(payload, "oldVersion", where)
    event_id = f"{resource_id}:{version}"
    order: int | None = version
    if resource.get("typeId") == "payment":  # transactions arrive as messages (see message_to_event)
        return None
    return ChangeEvent(
        event_id=event_id,
        kind=kind,
        resource_id=resource_id,
        event_type=notification,
        occurred_at=req_timestamp(payload, "modifiedAt", where),
        sequence=order,
        resource_version=order,
        record=None,
        deleted=notification == "ResourceDeleted",
        data_erasure=opt_bool(payload, "dataErasure", where),
        correlation_id=event_id,
        raw=dict(payload),
    )


def platform_payload_to_events(payload: Mapping[str, Any], where: str = "") -> list[ChangeEvent]:
    """One Subscription payload in the Platform format → zero or one events."""
    notification = req_str(payload, "notificationType", where, max_length=64)
    if notification == "Message":
        event = message_to_event(payload, where)
    elif notification in CHANGE_NOTIFICATIONS:
        event = change_to_event(payload, where)
    elif notification == "Event":
        # Events (beta) exist for import and checkout resources only: nothing to sync, acknowledge.
        return []
    else:
        raise IngressError(f"unsupported notificationType {notification[:64]!r}")
    return [event] if event is not None else []
