"""Seeded catalog and order history: deterministic, realistic spread, valid, fast, served over HTTP."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crmsync.emulators.commercetools import CommercetoolsEmulator, generate_customer_drafts

from .conftest import Api
from .test_vendor_examples import schema_properties


def seeded(orders: int = 2000, *, customers: int = 200, messages: bool = True) -> CommercetoolsEmulator:
    emu = CommercetoolsEmulator("seed-proj")
    for draft in generate_customer_drafts(customers, seed=5):
        emu.create_customer(draft)
    emu.seed_catalog(categories=40, products=60, seed=7)
    emu.seed_orders(orders, seed=3, messages=messages)
    return emu


@pytest.fixture(scope="module")
def shop() -> CommercetoolsEmulator:
    return seeded()


def test_catalog_is_a_three_level_tree_of_published_products(shop: CommercetoolsEmulator) -> None:
    categories = list(shop.categories.values())
    assert len(categories) == 40
    assert Counter(len(c["ancestors"]) for c in categories) == {0: 8, 1: 10, 2: 22}
    products = list(shop.products.values())
    assert len(products) == 60
    published = [p for p in products if p["masterData"]["published"]]
    assert 50 <= len(published) < 60
    for product in products:
        variant = product["masterData"]["staged"]["masterVariant"]
        assert {p["value"]["currencyCode"] for p in variant["prices"]} == {"EUR", "GBP", "USD"}
        assert variant["images"] and all(i["dimensions"] == {"w": 1200, "h": 1200} for i in variant["images"])
        assert all(shop.categories[c["id"]] for c in product["masterData"]["staged"]["categories"])
    again = CommercetoolsEmulator("other")
    again.seed_catalog(categories=40, products=60, seed=7)
    assert sorted(c["key"] for c in again.categories.values()) == sorted(c["key"] for c in categories)
    first = sorted((p["key"], p["masterData"]["staged"]["name"]["en"]) for p in again.products.values())
    assert first == sorted((p["key"], p["masterData"]["staged"]["name"]["en"]) for p in products)


def test_orders_have_a_realistic_spread(shop: CommercetoolsEmulator) -> None:
    orders = list(shop.orders.values())
    assert len(orders) == 2000 and len({o["orderNumber"] for o in orders}) == 2000
    states = Counter(o["orderState"] for o in orders)
    assert (
        set(states) == {"Open", "Confirmed", "Complete", "Cancelled"} and states["Complete"] > states["Open"]
    )
    assert {o.get("shipmentState") for o in orders} >= {"Delivered", "Shipped", "Canceled", "Pending"}
    guests = [o for o in orders if "customerId" not in o]
    assert 0.1 < len(guests) / len(orders) < 0.3 and all(o["customerEmail"] for o in guests)
    for order in orders:
        if "customerId" in order:
            assert shop.customers[order["customerId"]]["email"] == order["customerEmail"]
        currency = order["totalPrice"]["currencyCode"]
        assert currency == {"GB": "GBP", "US": "USD"}.get(order["country"], "EUR")
        assert order["totalPrice"]["centAmount"] == sum(
            i["totalPrice"]["centAmount"] for i in order["lineItems"]
        )
        assert all(i["productId"] in shop.products for i in order["lineItems"])
        assert ("completedAt" in order) == (order["orderState"] == "Complete")
        payments = [shop.payments[p["id"]] for p in order.get("paymentInfo", {}).get("payments", [])]
        assert (order["paymentState"] == "Paid") == bool(payments)
        for payment in payments:
            kinds = [t["type"] for t in payment["transactions"]]
            assert (
                kinds[:2] == ["Authorization", "Charge"] and payment["amountPlanned"] == order["totalPrice"]
            )
            returned = [i for info in order["returnInfo"] for i in info["items"]]
            assert kinds.count("Refund") == len(returned)
    with_returns = [o for o in orders if o["returnInfo"]]
    assert 0.01 < len(with_returns) / len(orders) < 0.08
    assert {len(o["returnInfo"][0]["items"]) for o in with_returns} == {1, 2}
    imported = [m for m in shop.messages if m["type"] == "OrderImported"]
    assert len(imported) == 2000 and all(m["order"]["lastMessageSequenceNumber"] == 1 for m in imported)


@pytest.mark.specs
def test_seeded_resources_have_spec_fields(shop: CommercetoolsEmulator, specs_dir: Path) -> None:
    order_fields, item_fields = (
        schema_properties(specs_dir, "Order"),
        schema_properties(specs_dir, "LineItem"),
    )
    for order in list(shop.orders.values())[:300]:
        assert set(order) <= order_fields and all(set(i) <= item_fields for i in order["lineItems"])
    payment_fields = schema_properties(specs_dir, "Payment")
    assert all(set(p) <= payment_fields for p in shop.payments.values())


def test_seeding_is_fast_and_can_skip_messages() -> None:
    started = time.perf_counter()
    emu = seeded(10_000, customers=50, messages=False)
    assert time.perf_counter() - started < 5.0  # ~0.1 ms per order: 100,000 orders take ~10 s
    assert len(emu.orders) == 10_000
    assert not [m for m in emu.messages if m["resource"]["typeId"] in ("order", "payment")]
    assert all("lastMessageSequenceNumber" not in o for o in emu.orders.values())
    with pytest.raises(ValueError, match="seed_catalog"):
        CommercetoolsEmulator("empty").seed_orders(1)


async def test_seeded_orders_over_http(api: Api, emu: CommercetoolsEmulator) -> None:
    for draft in generate_customer_drafts(20, seed=1):
        emu.create_customer(draft)
    emu.seed_catalog(categories=12, products=10)
    emu.seed_orders(300, seed=9)
    customer_id = next(o["customerId"] for o in emu.orders.values() if "customerId" in o)
    status, page = await api.get("/orders", where=f'customerId = "{customer_id}"', limit="500")
    assert status == 200 and page["count"] == sum(
        o.get("customerId") == customer_id for o in emu.orders.values()
    )
    status, page = await api.get(
        "/orders", where='paymentState = "Paid" and orderState = "Confirmed"', withTotal="false", limit="1"
    )
    order: dict[str, Any] = page["results"][0]
    status, payment = await api.get(f"/payments/{order['paymentInfo']['payments'][0]['id']}")
    assert status == 200 and payment["transactions"][1]["type"] == "Charge"
    status, page = await api.get("/product-projections", limit="500")
    assert status == 200 and page["total"] == sum(p["masterData"]["published"] for p in emu.products.values())
    updated = emu.update_order(
        order["id"], order["version"], [{"action": "changeOrderState", "orderState": "Complete"}]
    )
    assert updated["version"] == 2 and updated["lastMessageSequenceNumber"] == 2
