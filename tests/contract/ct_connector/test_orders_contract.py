"""Orders through the commercetools connector against the emulator: expanded payments, state-change
times from messages, order messages in the feed, payment transactions routed to their order."""

from __future__ import annotations

from typing import Any

from crmsync.mapping.orders import OrderEventProjector

from .test_emulator_contract import Setup, setup  # noqa: F401  (fixture)


def product(emu: Any, n: int) -> dict[str, Any]:
    return emu.create_product(
        {
            "key": f"p-{n}",
            "productType": {"typeId": "product-type", "key": "generic"},
            "name": {"en": f"Product {n}"},
            "slug": {"en": f"product-{n}"},
            "masterVariant": {
                "sku": f"SKU-{n}",
                "prices": [{"value": {"currencyCode": "EUR", "centAmount": 1000 * n}}],
                "images": [{"url": f"https://img.example.com/{n}.jpg", "dimensions": {"w": 10, "h": 10}}],
            },
            "publish": True,
        }
    )


def place_order(env: Setup, customer: dict[str, Any] | None, *skus: str, email: str | None = None) -> dict:
    emu = env.emu
    draft: dict[str, Any] = {
        "currency": "EUR",
        "shippingAddress": {"country": "DE", "city": "Berlin"},
        "lineItems": [{"sku": s, "quantity": 1} for s in skus],
    }
    if customer is not None:
        draft["customerId"] = customer["id"]
        draft["customerEmail"] = customer["email"]
    if email is not None:
        draft["customerEmail"] = email
    cart = emu.create_cart(draft)
    return emu.order_from_cart(cart["id"], cart["version"])


def pay(env: Setup, order: dict[str, Any], *transactions: tuple[str, int]) -> tuple[dict, dict]:
    emu = env.emu
    payment = emu.create_payment(
        {
            "amountPlanned": {"currencyCode": "EUR", "centAmount": order["totalPrice"]["centAmount"]},
            "transactions": [
                {"type": kind, "state": "Success", "amount": {"currencyCode": "EUR", "centAmount": cents}}
                for kind, cents in transactions
            ],
        }
    )
    order = emu.update_order(
        order["id"],
        order["version"],
        [{"action": "addPayment", "payment": {"typeId": "payment", "id": payment["id"]}}],
    )
    return order, payment


async def test_orders_read_with_payments_and_state_times(setup: Setup) -> None:  # noqa: F811
    emu = setup.emu
    [customer] = setup.seed(1)
    product(emu, 1), product(emu, 2)
    order = place_order(setup, customer, "SKU-1", "SKU-2")
    order, payment = pay(setup, order, ("Charge", 3000), ("Refund", 1000))
    order = emu.update_order(
        order["id"], order["version"], [{"action": "changeShipmentState", "shipmentState": "Shipped"}]
    )
    guest = place_order(setup, None, "SKU-1", email="guest@example.com")
    connector = setup.connector()

    pages = [page async for page in connector.read_pages("order")]
    records = {r.id: r for page in pages for r in page}
    assert set(records) == {order["id"], guest["id"]}
    data = records[order["id"]].data
    [ref] = data["paymentInfo"]["payments"]
    assert ref["obj"]["id"] == payment["id"] and len(ref["obj"]["transactions"]) == 2
    shipped = data["_crmsync"]["state_times"]["shipmentState"]["Shipped"]
    assert shipped >= data["createdAt"]

    events = {e["metric"]: e for e in OrderEventProjector().events(data)}
    assert events["Fulfilled Order"]["time"] == shipped
    assert events["Fulfilled Order"]["properties"]["TimeSource"] == "message"
    assert events["Refunded Order"]["value"] == 10.0
    assert events["Placed Order"]["profile"]["external_id"] == customer["id"]
    guest_events = OrderEventProjector().events(records[guest["id"]].data)
    assert guest_events[0]["profile"] == {"email": "guest@example.com"}

    by_id = await connector.read_by_ids("order", [guest["id"], order["id"], "missing"])
    assert [r.id for r in by_id] == [guest["id"], order["id"]]
    assert by_id[1].data["_crmsync"] == data["_crmsync"]


async def test_feed_carries_order_messages_and_routes_payment_transactions(setup: Setup) -> None:  # noqa: F811
    emu = setup.emu
    [customer] = setup.seed(1)
    product(emu, 1)
    connector = setup.connector()
    _, cursor = await connector.poll_changes(["order"], None)
    order = place_order(setup, customer, "SKU-1")
    order, payment = pay(setup, order, ("Charge", 1000))
    emu.update_payment(
        payment["id"],
        payment["version"],
        [
            {
                "action": "addTransaction",
                "transaction": {
                    "type": "Refund",
                    "state": "Success",
                    "amount": {"currencyCode": "EUR", "centAmount": 500},
                },
            }
        ],
    )
    orphan = emu.create_payment({"amountPlanned": {"currencyCode": "EUR", "centAmount": 1}})
    emu.update_payment(
        orphan["id"],
        orphan["version"],
        [
            {
                "action": "addTransaction",
                "transaction": {"type": "Charge", "amount": {"currencyCode": "EUR", "centAmount": 1}},
            }
        ],
    )
    events, _ = await connector.poll_changes(["order"], cursor)
    types = [(e.event_type, e.resource_id) for e in events]
    assert ("OrderCreated", order["id"]) in types and ("OrderPaymentAdded", order["id"]) in types
    assert ("PaymentTransactionAdded", order["id"]) in types  # routed to the order that holds the payment
    assert all(rid == order["id"] for _, rid in types)  # the orphan payment's transaction was dropped
    routed = next(e for e in events if e.event_type == "PaymentTransactionAdded")
    assert routed.sequence is None and routed.needs_fetch
