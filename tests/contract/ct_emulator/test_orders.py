"""Orders over HTTP: import, order from cart, update actions and their Messages, delete, queries."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .commerce_support import cart_for, created, error_code, messages_of, product_draft, updated
from .conftest import Api, simple_draft

IMPORT = {
    "orderNumber": "100001",
    "customerEmail": "guest@example.com",
    "totalPrice": {"currencyCode": "EUR", "centAmount": 3000},
    "lineItems": [
        {
            "name": {"en": "Product 1"},
            "variant": {"sku": "SKU-1"},
            "price": {"value": {"currencyCode": "EUR", "centAmount": 1000}},
            "quantity": 3,
        }
    ],
    "shippingAddress": {"country": "DE", "city": "Berlin"},
    "orderState": "Complete",
    "shipmentState": "Delivered",
    "paymentState": "Paid",
    "completedAt": "2024-03-01T10:00:00Z",
}


@pytest.fixture()
async def product(api: Api) -> dict[str, Any]:
    return await created(api, "/products", product_draft(1))


async def test_import_order(api: Api, emu: CommercetoolsEmulator, product: dict[str, Any]) -> None:
    order = await created(api, "/orders/import", IMPORT)
    assert order["orderNumber"] == "100001" and order["version"] == 1 and order["origin"] == "Customer"
    assert (order["orderState"], order["shipmentState"], order["paymentState"]) == (
        "Complete",
        "Delivered",
        "Paid",
    )
    assert (
        order["completedAt"] == "2024-03-01T10:00:00.000Z" and order["createdAt"] == order["lastModifiedAt"]
    )
    assert order["createdAt"] > order["completedAt"]  # the import time: the draft has no createdAt
    assert order["totalPrice"] == {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": 3000,
        "fractionDigits": 2,
    }
    (item,) = order["lineItems"]
    assert item["productId"] == product["id"] and item["productType"] == product["productType"]
    assert item["variant"]["sku"] == "SKU-1" and item["totalPrice"]["centAmount"] == 3000
    assert order["returnInfo"] == [] and order["syncInfo"] == [] and order["lastMessageSequenceNumber"] == 1
    assert "type" not in order
    (message,) = messages_of(emu, order["id"])
    assert message["type"] == "OrderImported" and message["order"] == order
    assert message["resource"] == {"typeId": "order", "id": order["id"]}
    assert message["resourceUserProvidedIdentifiers"] == {"orderNumber": "100001"}
    assert await api.get("/orders/order-number=100001") == (200, order)
    assert await api.get(f"/orders/{order['id']}") == (200, order)
    status, body = await api.get("/orders/order-number=999")
    assert status == 404 and body["message"] == "The Resource with orderNumber '999' was not found."
    status, body = await api.post("/orders/import", IMPORT)
    assert (
        status == 400 and error_code(body) == "DuplicateField" and body["errors"][0]["field"] == "orderNumber"
    )


async def test_import_errors(api: Api, product: dict[str, Any]) -> None:
    status, body = await api.post("/orders/import", {**IMPORT, "orderNumber": "x1", "customerId": "nope"})
    assert status == 400 and error_code(body) == "ReferencedResourceNotFound"
    status, body = await api.post("/orders/import", {"orderNumber": "x2"})
    assert status == 400 and error_code(body) == "InvalidJsonInput"
    status, body = await api.post("/orders/import", {**IMPORT, "orderNumber": "x3", "orderState": "Lost"})
    assert status == 400 and error_code(body) == "InvalidJsonInput"
    bad_item = {**IMPORT["lineItems"][0], "variant": {"sku": "NOPE"}}
    status, body = await api.post("/orders/import", {**IMPORT, "orderNumber": "x4", "lineItems": [bad_item]})
    assert status == 400 and error_code(body) == "InvalidOperation"


async def test_order_from_cart(api: Api, emu: CommercetoolsEmulator, product: dict[str, Any]) -> None:
    customer = await api.create(simple_draft(1))
    cart = await cart_for(api, "SKU-1", customerId=customer["id"], customerEmail=customer["email"])
    status, body = await api.post("/orders", {"cart": {"typeId": "cart", "id": cart["id"]}, "version": 7})
    assert status == 409 and error_code(body) == "ConcurrentModification"
    assert body["errors"][0]["currentVersion"] == 1 and cart["id"] in body["message"]
    order = await created(
        api, "/orders", {"cart": {"typeId": "cart", "id": cart["id"]}, "version": 1, "orderNumber": "N-1"}
    )
    assert order["cart"] == {"typeId": "cart", "id": cart["id"]} and order["orderState"] == "Open"
    assert order["customerId"] == customer["id"] and order["lineItems"] == cart["lineItems"]
    assert order["totalPrice"] == cart["totalPrice"] and order["shippingAddress"] == cart["shippingAddress"]
    (message,) = messages_of(emu, order["id"])
    assert message["type"] == "OrderCreated" and message["order"] == order
    _, ordered = await api.get(f"/carts/{cart['id']}")
    assert ordered["cartState"] == "Ordered" and ordered["version"] == 2
    status, body = await api.post("/orders", {"cart": {"typeId": "cart", "id": cart["id"]}, "version": 2})
    assert status == 400 and error_code(body) == "InvalidOperation"
    no_address = await created(api, "/carts", {"currency": "EUR", "lineItems": [{"sku": "SKU-1"}]})
    status, body = await api.post(
        "/orders", {"cart": {"typeId": "cart", "id": no_address["id"]}, "version": 1}
    )
    assert status == 400 and error_code(body) == "InvalidOperation" and "shipping address" in body["message"]
    status, body = await api.post("/orders", {"cart": {"typeId": "cart", "id": "nope"}, "version": 1})
    assert status == 400 and error_code(body) == "ReferencedResourceNotFound"


async def test_state_actions_write_their_messages(
    api: Api, emu: CommercetoolsEmulator, product: dict[str, Any]
) -> None:
    order = await created(
        api, "/orders/import", {**IMPORT, "orderState": "Open", "shipmentState": None, "paymentState": None}
    )
    order = await updated(
        api,
        "/orders",
        order,
        {"action": "changeOrderState", "orderState": "Confirmed"},
        {"action": "changeShipmentState", "shipmentState": "Shipped"},
        {"action": "changePaymentState", "paymentState": "Paid"},
        {"action": "changeOrderState", "orderState": "Confirmed"},
    )
    assert order["version"] == 2 and order["lastMessageSequenceNumber"] == 4
    messages = messages_of(emu, order["id"])[1:]
    assert [(m["type"], m["sequenceNumber"], m["resourceVersion"]) for m in messages] == [
        ("OrderStateChanged", 2, 2),
        ("OrderShipmentStateChanged", 3, 2),
        ("OrderPaymentStateChanged", 4, 2),
    ]
    assert messages[0]["orderState"] == "Confirmed" and messages[0]["oldOrderState"] == "Open"
    assert messages[1]["shipmentState"] == "Shipped" and "oldShipmentState" not in messages[1]
    assert messages[2]["paymentState"] == "Paid" and "oldPaymentState" not in messages[2]
    status, body = await api.post(f"/orders/{order['id']}", {"version": 1, "actions": []})
    assert status == 409 and body["errors"][0]["currentVersion"] == 2
    status, body = await api.post(
        f"/orders/{order['id']}",
        {"version": 2, "actions": [{"action": "changeOrderState", "orderState": "Done"}]},
    )
    assert status == 400 and error_code(body) == "InvalidJsonInput"


async def test_returns_customer_and_number(
    api: Api, emu: CommercetoolsEmulator, product: dict[str, Any]
) -> None:
    customer = await api.create(simple_draft(2))
    order = await created(api, "/orders/import", IMPORT)
    line_id = order["lineItems"][0]["id"]
    order = await updated(
        api,
        "/orders",
        order,
        {
            "action": "addReturnInfo",
            "items": [{"quantity": 1, "lineItemId": line_id, "shipmentState": "Returned"}],
            "returnTrackingId": "RT-1",
        },
        {"action": "setCustomerId", "customerId": customer["id"]},
        {"action": "setCustomerEmail", "email": customer["email"]},
        {"action": "setOrderNumber", "orderNumber": "100002"},
    )
    (info,) = order["returnInfo"]
    (item,) = info["items"]
    assert (
        info["returnTrackingId"] == "RT-1"
        and item["type"] == "LineItemReturnItem"
        and item["lineItemId"] == line_id
    )
    assert (item["shipmentState"], item["paymentState"], item["quantity"]) == ("Returned", "Initial", 1)
    assert item["createdAt"] == item["lastModifiedAt"] == order["lastModifiedAt"]
    added, customer_set, email_set = messages_of(emu, order["id"])[1:]
    assert added["type"] == "ReturnInfoAdded" and added["returnInfo"] == info
    assert customer_set["type"] == "OrderCustomerSet" and customer_set["customer"] == {
        "typeId": "customer",
        "id": customer["id"],
    }
    assert "oldCustomer" not in customer_set
    assert email_set["type"] == "OrderCustomerEmailSet" and email_set["oldEmail"] == "guest@example.com"
    assert email_set["resourceUserProvidedIdentifiers"] == {
        "orderNumber": "100002"
    }  # no Message for setOrderNumber
    assert (await api.get("/orders/order-number=100001"))[0] == 404
    too_many = {"quantity": 3, "lineItemId": line_id, "shipmentState": "Returned"}
    status, body = await api.post(
        f"/orders/{order['id']}",
        {"version": 2, "actions": [{"action": "addReturnInfo", "items": [too_many]}]},
    )
    assert status == 400 and error_code(body) == "InvalidOperation"
    replaced = await updated(
        api,
        "/orders",
        order,
        {
            "action": "setReturnInfo",
            "items": [{"items": [{"quantity": 2, "lineItemId": line_id, "shipmentState": "Advised"}]}],
        },
    )
    assert replaced["returnInfo"][0]["items"][0]["paymentState"] == "NonRefundable"
    message = messages_of(emu, order["id"])[-1]
    assert message["type"] == "ReturnInfoSet" and message["returnInfo"] == replaced["returnInfo"]


async def test_payments_on_orders_and_delete(
    api: Api, emu: CommercetoolsEmulator, product: dict[str, Any]
) -> None:
    order = await created(api, "/orders/import", IMPORT)
    payment = await created(api, "/payments", {"amountPlanned": {"currencyCode": "EUR", "centAmount": 3000}})
    order = await updated(
        api, "/orders", order, {"action": "addPayment", "payment": {"typeId": "payment", "id": payment["id"]}}
    )
    ref = {"typeId": "payment", "id": payment["id"]}
    assert order["paymentInfo"] == {"payments": [ref]}
    message = messages_of(emu, order["id"])[-1]
    assert message["type"] == "OrderPaymentAdded" and message["paymentRef"] == ref
    status, body = await api.post(
        f"/orders/{order['id']}",
        {"version": 2, "actions": [{"action": "addPayment", "payment": {"typeId": "payment", "id": "nope"}}]},
    )
    assert status == 400 and error_code(body) == "ReferencedResourceNotFound"
    status, body = await api.call(
        "DELETE", f"/orders/order-number={order['orderNumber']}", params={"version": "2"}
    )
    assert status == 200 and body == order
    deleted = messages_of(emu, order["id"])[-1]
    assert deleted["type"] == "OrderDeleted" and deleted["order"] == order and deleted["resourceVersion"] == 3
    assert (await api.get(f"/orders/{order['id']}"))[0] == 404


async def test_order_queries(api: Api, emu: CommercetoolsEmulator, product: dict[str, Any]) -> None:
    orders = [await created(api, "/orders/import", {**IMPORT, "orderNumber": f"Q-{i}"}) for i in range(7)]
    emu.clock.advance(1)
    await updated(api, "/orders", orders[3], {"action": "changeOrderState", "orderState": "Cancelled"})
    status, page = await api.get("/orders", where='orderState = "Cancelled"')
    assert status == 200 and [o["orderNumber"] for o in page["results"]] == ["Q-3"] and page["total"] == 1
    _, page = await api.get(
        "/orders", where=f'lastModifiedAt > "{orders[-1]["lastModifiedAt"]}"', sort="lastModifiedAt asc"
    )
    assert [o["orderNumber"] for o in page["results"]] == ["Q-3"]
    _, page = await api.get(
        "/orders", where='lineItems(variant(sku = "SKU-1")) and orderNumber in ("Q-1", "Q-2")'
    )
    assert sorted(o["orderNumber"] for o in page["results"]) == ["Q-1", "Q-2"]
    ids: list[str] = []
    where: dict[str, str] = {}
    while True:
        _, page = await api.get("/orders", sort="id asc", limit="3", withTotal="false", **where)
        if not page["results"]:
            break
        ids += [o["id"] for o in page["results"]]
        where = {"where": f'id > "{ids[-1]}"'}
    assert ids == sorted(o["id"] for o in orders)
    status, body = await api.get("/orders", limit="501")
    assert status == 400 and error_code(body) == "InvalidInput"
    assert (await api.call("HEAD", "/orders", params={"where": 'orderNumber = "Q-0"'}))[0] == 200
    assert (await api.call("HEAD", f"/orders/{orders[0]['id']}"))[0] == 200


async def test_custom_fields_on_orders(api: Api, emu: CommercetoolsEmulator, product: dict[str, Any]) -> None:
    type_draft = {
        "key": "order-extras",
        "name": {"en": "Order extras"},
        "resourceTypeIds": ["order"],
        "fieldDefinitions": [{"name": "giftNote", "type": {"name": "String"}}],
    }
    assert (await api.post("/types", type_draft))[0] == 201
    order = await created(api, "/orders/import", IMPORT)
    order = await updated(
        api,
        "/orders",
        order,
        {
            "action": "setCustomType",
            "type": {"typeId": "type", "key": "order-extras"},
            "fields": {"giftNote": "Hi"},
        },
        {"action": "setCustomField", "name": "giftNote", "value": "Hello"},
        {"action": "setCustomField", "name": "giftNote"},
    )
    assert order["custom"]["fields"] == {} and order["custom"]["type"]["typeId"] == "type"
    types = [m["type"] for m in messages_of(emu, order["id"])[1:]]
    assert types == ["OrderCustomTypeSet", "OrderCustomFieldChanged", "OrderCustomFieldRemoved"]
    status, body = await api.post(
        f"/orders/{order['id']}",
        {"version": 2, "actions": [{"action": "setCustomField", "name": "nope", "value": 1}]},
    )
    assert status == 400 and error_code(body) == "InvalidField"


async def test_cart_payments_carry_over_and_scopes_are_enforced(api: Api, product: dict[str, Any]) -> None:
    payment = await created(api, "/payments", {"amountPlanned": {"currencyCode": "EUR", "centAmount": 1000}})
    cart = await cart_for(api, "SKU-1")
    cart = await updated(
        api, "/carts", cart, {"action": "addPayment", "payment": {"typeId": "payment", "id": payment["id"]}}
    )
    order = await created(
        api, "/orders", {"cart": {"typeId": "cart", "id": cart["id"]}, "version": cart["version"]}
    )
    assert order["paymentInfo"] == {"payments": [{"typeId": "payment", "id": payment["id"]}]}
    await api.authenticate(scope="view_orders:test-proj view_published_products:test-proj")
    assert (await api.get(f"/orders/{order['id']}"))[0] == 200
    assert (await api.get(f"/product-projections/{product['id']}"))[0] == 200
    status, body = await api.post("/orders/import", IMPORT)
    assert status == 403 and error_code(body) == "insufficient_scope"
    assert (await api.get(f"/product-projections/{product['id']}", staged="true"))[0] == 403
    assert (await api.get(f"/payments/{payment['id']}"))[0] == 403
