"""Order update actions and the Messages each one writes (spec Message types, ``Order/*Action.json``).

``changeOrderState`` → ``OrderStateChanged {orderState, oldOrderState}``; ``changeShipmentState`` →
``OrderShipmentStateChanged {shipmentState, oldShipmentState?}``; ``changePaymentState`` →
``OrderPaymentStateChanged {paymentState, oldPaymentState?}``; ``addReturnInfo`` → ``ReturnInfoAdded
{returnInfo}``; ``setReturnInfo`` → ``ReturnInfoSet {returnInfo}``; ``setReturnShipmentState`` →
``OrderReturnShipmentStateChanged {returnItemId, returnShipmentState}``; ``setCustomerEmail`` →
``OrderCustomerEmailSet {email?, oldEmail?}``; ``setCustomerId`` → ``OrderCustomerSet {customer?,
oldCustomer?}``; ``addPayment`` / ``removePayment`` → ``OrderPaymentAdded {paymentRef}`` /
``OrderPaymentRemoved {paymentRef, removedPaymentInfo}``; ``setShippingAddress`` /
``setBillingAddress`` → ``Order{Shipping,Billing}AddressSet {address?, oldAddress?}``;
``setPurchaseOrderNumber`` → ``OrderPurchaseOrderNumberSet``; ``setCustomType`` / ``setCustomField``
→ ``OrderCustomType*`` / ``OrderCustomField*``. ``setOrderNumber``, ``setLocale`` and
``setReturnPaymentState`` have no Message type (only ``ResourceUpdated``).

Return items: a ``ReturnItemDraft`` names a ``lineItemId`` or ``customLineItemId`` of the order; its
``paymentState`` starts ``NonRefundable`` for ``Advised`` items and ``Initial`` otherwise (the
``ReturnShipmentState`` descriptions); more returned than ordered is ``InvalidOperation``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from ._util import new_id, normalize_datetime_literal
from .carts import address
from .custom_fields import set_custom_field, set_custom_type
from .customer_draft import check_email, check_locale
from .money import enum, integer, object_list, string
from .orders import ORDER_STATES, PAYMENT_STATES, SHIPMENT_STATES
from .repository import ActionContext, Handler, set_or_drop

if TYPE_CHECKING:
    from .orders import OrderRepository

RETURN_SHIPMENT_STATES = ("Advised", "Returned", "BackInStock", "Unusable")
RETURN_PAYMENT_STATES = ("NonRefundable", "Initial", "Refunded", "NotRefunded")


class OrderContext(ActionContext):
    def __init__(self, resource: dict[str, Any], now: str, *, repo: OrderRepository) -> None:
        super().__init__(resource, now)
        self.repo = repo


def _state_changer(field: str, allowed: tuple[str, ...], message: str) -> Handler:
    def handler(ctx: OrderContext, action: dict[str, Any]) -> None:
        value = enum(action.get(field), allowed, f"actions -> {field}")
        old = ctx.resource.get(field)
        if value != old:
            ctx.resource[field] = value
            ctx.emit(message, **{field: value, "old" + field[0].upper() + field[1:]: old})

    return handler


def _return_items(ctx: OrderContext, raw: Any, where: str, returned: dict[str, int]) -> list[dict[str, Any]]:
    order = ctx.resource
    ordered = {i["id"]: i["quantity"] for i in order["lineItems"]}
    custom_ordered = {i["id"]: i["quantity"] for i in order["customLineItems"]}
    items = []
    for i, draft in enumerate(object_list(raw, where)):
        spot = f"{where} -> {i}"
        quantity = integer(draft, "quantity", f"{spot} -> ", required=True)
        assert quantity is not None
        shipment = enum(draft.get("shipmentState"), RETURN_SHIPMENT_STATES, f"{spot} -> shipmentState")
        item: dict[str, Any] = {"id": new_id()}
        set_or_drop(item, "key", string(draft, "key", f"{spot} -> "))
        item["quantity"] = quantity
        line_id, custom_id = draft.get("lineItemId"), draft.get("customLineItemId")
        if line_id is not None and line_id in ordered:
            item["type"], item["lineItemId"], limit = "LineItemReturnItem", line_id, ordered[line_id]
        elif custom_id is not None and custom_id in custom_ordered:
            item["type"], item["customLineItemId"], limit = (
                "CustomLineItemReturnItem",
                custom_id,
                custom_ordered[custom_id],
            )
        else:
            raise errors.invalid_operation(
                f"{spot}: The order has no line item with id '{line_id or custom_id}'."
            )
        target = str(line_id or custom_id)
        returned[target] = returned.get(target, 0) + quantity
        if quantity < 1 or returned[target] > limit:
            raise errors.invalid_operation(
                f"{spot}: The returned quantity of item '{target}' exceeds the ordered quantity {limit}."
            )
        set_or_drop(item, "comment", string(draft, "comment", f"{spot} -> "))
        item["shipmentState"] = shipment
        item["paymentState"] = "NonRefundable" if shipment == "Advised" else "Initial"
        item["lastModifiedAt"] = ctx.now
        item["createdAt"] = ctx.now
        items.append(item)
    return items


def _return_info(
    ctx: OrderContext, draft: dict[str, Any], where: str, returned: dict[str, int]
) -> dict[str, Any]:
    info: dict[str, Any] = {"items": _return_items(ctx, draft.get("items"), f"{where}items", returned)}
    set_or_drop(info, "returnTrackingId", string(draft, "returnTrackingId", where))
    date = draft.get("returnDate")
    if date is not None:
        normalized = normalize_datetime_literal(date) if isinstance(date, str) else None
        if normalized is None:
            raise errors.invalid_json(f"{where}returnDate: Invalid date-time '{date}'.")
        info["returnDate"] = normalized
    return info


def _already_returned(order: dict[str, Any]) -> dict[str, int]:
    returned: dict[str, int] = {}
    for info in order.get("returnInfo", ()):
        for item in info["items"]:
            target = item.get("lineItemId") or item.get("customLineItemId")
            returned[target] = returned.get(target, 0) + item["quantity"]
    return returned


def add_return_info(ctx: OrderContext, action: dict[str, Any]) -> None:
    info = _return_info(ctx, action, "actions -> ", _already_returned(ctx.resource))
    ctx.resource.setdefault("returnInfo", []).append(info)
    ctx.emit("ReturnInfoAdded", returnInfo=info)


def set_return_info(ctx: OrderContext, action: dict[str, Any]) -> None:
    returned: dict[str, int] = {}
    infos = [
        _return_info(ctx, draft, f"actions -> items -> {i} -> ", returned)
        for i, draft in enumerate(object_list(action.get("items"), "actions -> items"))
    ]
    ctx.resource["returnInfo"] = infos
    ctx.emit("ReturnInfoSet", returnInfo=infos)


def _return_item(ctx: OrderContext, action: dict[str, Any]) -> dict[str, Any]:
    ident, key = action.get("returnItemId"), action.get("returnItemKey")
    infos: list[dict[str, Any]] = ctx.resource.get("returnInfo", [])
    for info in infos:
        items: list[dict[str, Any]] = info["items"]
        for item in items:
            if (ident is not None and item["id"] == ident) or (key is not None and item.get("key") == key):
                return item
    raise errors.invalid_operation(f"The order has no return item '{ident or key}'.")


def set_return_shipment_state(ctx: OrderContext, action: dict[str, Any]) -> None:
    item = _return_item(ctx, action)
    state = enum(action.get("shipmentState"), RETURN_SHIPMENT_STATES, "actions -> shipmentState")
    if item["shipmentState"] != state:
        item["shipmentState"], item["lastModifiedAt"] = state, ctx.now
        ctx.emit("OrderReturnShipmentStateChanged", returnItemId=item["id"], returnShipmentState=state)


def set_return_payment_state(ctx: OrderContext, action: dict[str, Any]) -> None:
    item = _return_item(ctx, action)
    state = enum(action.get("paymentState"), RETURN_PAYMENT_STATES, "actions -> paymentState")
    if item["paymentState"] != state:
        item["paymentState"], item["lastModifiedAt"] = state, ctx.now


def set_customer_email(ctx: OrderContext, action: dict[str, Any]) -> None:
    raw = action.get("email")
    email = None if raw is None else check_email(raw, "actions -> ")
    old = ctx.resource.get("customerEmail")
    set_or_drop(ctx.resource, "customerEmail", email)
    ctx.emit("OrderCustomerEmailSet", email=email, oldEmail=old)


def set_customer_id(ctx: OrderContext, action: dict[str, Any]) -> None:
    customer_id = string(action, "customerId", "actions -> ")
    ctx.repo.check_customer(customer_id)
    old = ctx.resource.get("customerId")
    set_or_drop(ctx.resource, "customerId", customer_id)
    ctx.emit(
        "OrderCustomerSet",
        customer={"typeId": "customer", "id": customer_id} if customer_id else None,
        oldCustomer={"typeId": "customer", "id": old} if old else None,
    )


def set_order_number(ctx: OrderContext, action: dict[str, Any]) -> None:
    set_or_drop(ctx.resource, "orderNumber", string(action, "orderNumber", "actions -> "))


def set_purchase_order_number(ctx: OrderContext, action: dict[str, Any]) -> None:
    value = string(action, "purchaseOrderNumber", "actions -> ")
    old = ctx.resource.get("purchaseOrderNumber")
    set_or_drop(ctx.resource, "purchaseOrderNumber", value)
    ctx.emit("OrderPurchaseOrderNumberSet", purchaseOrderNumber=value, oldPurchaseOrderNumber=old)


def set_locale(ctx: OrderContext, action: dict[str, Any]) -> None:
    locale = string(action, "locale", "actions -> ")
    check_locale(locale)
    set_or_drop(ctx.resource, "locale", locale)


def _address_setter(field: str, message: str) -> Handler:
    def handler(ctx: OrderContext, action: dict[str, Any]) -> None:
        new = address(action.get("address"), ctx.repo.refs, "actions -> address")
        old = ctx.resource.get(field)
        set_or_drop(ctx.resource, field, new)
        ctx.emit(message, address=new, oldAddress=old)

    return handler


def add_payment(ctx: OrderContext, action: dict[str, Any]) -> None:
    payment = ctx.repo.payments.resolve(action.get("payment"), "actions -> payment")
    ref = {"typeId": "payment", "id": payment["id"]}
    payments = ctx.resource.setdefault("paymentInfo", {"payments": []})["payments"]
    if ref in payments:
        raise errors.invalid_operation(f"The payment '{payment['id']}' is already part of the order.")
    payments.append(ref)
    ctx.emit("OrderPaymentAdded", paymentRef=ref)


def remove_payment(ctx: OrderContext, action: dict[str, Any]) -> None:
    payment = ctx.repo.payments.resolve(action.get("payment"), "actions -> payment")
    ref = {"typeId": "payment", "id": payment["id"]}
    info = ctx.resource.get("paymentInfo") or {"payments": []}
    if ref not in info["payments"]:
        raise errors.invalid_operation(f"The payment '{payment['id']}' is not part of the order.")
    info["payments"].remove(ref)
    removed_info = not info["payments"]
    if removed_info:
        del ctx.resource["paymentInfo"]
    ctx.emit("OrderPaymentRemoved", paymentRef=ref, removedPaymentInfo=removed_info)


def _set_custom_type(ctx: OrderContext, action: dict[str, Any]) -> None:
    set_custom_type(ctx, ctx.repo.refs.types, action, "order", "Order")


def _set_custom_field(ctx: OrderContext, action: dict[str, Any]) -> None:
    set_custom_field(ctx, ctx.repo.refs.types, action, "Order")


HANDLERS: dict[str, Handler] = {
    "changeOrderState": _state_changer("orderState", ORDER_STATES, "OrderStateChanged"),
    "changeShipmentState": _state_changer("shipmentState", SHIPMENT_STATES, "OrderShipmentStateChanged"),
    "changePaymentState": _state_changer("paymentState", PAYMENT_STATES, "OrderPaymentStateChanged"),
    "addReturnInfo": add_return_info,
    "setReturnInfo": set_return_info,
    "setReturnShipmentState": set_return_shipment_state,
    "setReturnPaymentState": set_return_payment_state,
    "setCustomerEmail": set_customer_email,
    "setCustomerId": set_customer_id,
    "setOrderNumber": set_order_number,
    "setPurchaseOrderNumber": set_purchase_order_number,
    "setLocale": set_locale,
    "setShippingAddress": _address_setter("shippingAddress", "OrderShippingAddressSet"),
    "setBillingAddress": _address_setter("billingAddress", "OrderBillingAddressSet"),
    "addPayment": add_payment,
    "removePayment": remove_payment,
    "setCustomType": _set_custom_type,
    "setCustomField": _set_custom_field,
}
