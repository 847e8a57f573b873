"""Orders → events: metrics, unique ids, times, values, every state transition, guests, refunds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.errors import RecordValidationError
from crmsync.mapping.orders import OrderEventProjector, OrderEventRules, money

CREATED = "2026-11-01T10:00:00.000Z"


def eur(cents: int) -> dict[str, Any]:
    return {"type": "centPrecision", "currencyCode": "EUR", "centAmount": cents, "fractionDigits": 2}


def order(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "o-1",
        "version": 1,
        "orderNumber": "N-1",
        "customerId": "c-1",
        "customerEmail": "Ada@Example.com",
        "createdAt": CREATED,
        "lastModifiedAt": "2026-11-05T00:00:00.000Z",
        "locale": "de-DE",
        "country": "DE",
        "store": {"typeId": "store", "key": "eu-store"},
        "totalPrice": eur(12_345),
        "orderState": "Open",
        "lineItems": [
            {
                "id": "li-1",
                "productId": "p-1",
                "name": {"en": "Jeans", "de": "Jeans DE"},
                "variant": {"id": 1, "sku": "SKU-1", "images": [{"url": "https://img/1.jpg"}]},
                "price": {"value": eur(5_000)},
                "quantity": 2,
                "totalPrice": eur(10_000),
            },
            {
                "id": "li-2",
                "productId": "p-2",
                "name": {"en": "Belt"},
                "variant": {"id": 1, "sku": "SKU-2"},
                "price": {"value": eur(2_345)},
                "quantity": 1,
                "totalPrice": eur(2_345),
            },
        ],
        "discountCodes": [
            {"discountCode": {"typeId": "discount-code", "id": "d-1", "obj": {"code": "XMAS"}}}
        ],
        "returnInfo": [],
    }
    base.update(over)
    return base


def by_metric(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        out.setdefault(e["metric"], []).append(e)
    return out


P = OrderEventProjector()


def test_placed_order_and_ordered_products() -> None:
    events = by_metric(P.events(order()))
    assert set(events) == {"Placed Order", "Ordered Product"}
    [placed] = events["Placed Order"]
    assert placed["unique_id"] == "o-1" and placed["time"] == CREATED
    assert (placed["value"], placed["value_currency"]) == (123.45, "EUR")
    assert placed["profile"] == {"external_id": "c-1", "email": "ada@example.com"}
    props = placed["properties"]
    assert props["OrderNumber"] == "N-1" and props["Store"] == "eu-store" and props["Locale"] == "de-DE"
    assert props["DiscountCodes"] == ["XMAS"] and props["ItemNames"] == ["Jeans DE", "Belt"]
    assert props["ItemCount"] == 3 and props["Items"][0]["ImageURL"] == "https://img/1.jpg"
    products = events["Ordered Product"]
    assert [e["unique_id"] for e in products] == ["o-1:li-1", "o-1:li-2"]
    assert [e["value"] for e in products] == [100.0, 23.45]
    assert products[0]["properties"]["SKU"] == "SKU-1" and products[0]["properties"]["Quantity"] == 2
    assert all(e["time"] == CREATED for e in products)


@pytest.mark.parametrize(
    ("state", "metric", "suffix"),
    [
        ({"shipmentState": "Shipped"}, "Fulfilled Order", ":fulfilled"),
        ({"shipmentState": "Delivered"}, "Fulfilled Order", ":fulfilled"),
        ({"orderState": "Complete"}, "Fulfilled Order", ":fulfilled"),
        ({"orderState": "Cancelled"}, "Cancelled Order", ":cancelled"),
    ],
)
def test_state_transitions_use_the_message_time(state: dict[str, str], metric: str, suffix: str) -> None:
    field, value = next(iter(state.items()))
    times = {"state_times": {field: {value: "2026-11-03T08:00:00.000Z"}}}
    events = by_metric(P.events(order(**state, _crmsync=times)))
    [e] = events[metric]
    assert e["unique_id"] == "o-1" + suffix and e["time"] == "2026-11-03T08:00:00.000Z"
    assert e["properties"]["TimeSource"] == "message" and e["value"] == 123.45


def test_without_a_message_the_time_falls_back_and_says_so() -> None:
    [e] = by_metric(P.events(order(orderState="Cancelled")))["Cancelled Order"]
    assert e["time"] == "2026-11-05T00:00:00.000Z" and e["properties"]["TimeSource"] == "order"


def test_states_that_are_not_configured_make_no_event() -> None:
    for state in ({"shipmentState": "Pending"}, {"orderState": "Confirmed"}, {"shipmentState": "Ready"}):
        assert set(by_metric(P.events(order(**state)))) == {"Placed Order", "Ordered Product"}
    rules = OrderEventRules(
        fulfilled_shipment_states=["Delivered"], fulfilled_order_states=[], ordered_product=None
    )
    events = by_metric(OrderEventProjector(rules).events(order(shipmentState="Shipped")))
    assert set(events) == {"Placed Order"}
    custom = OrderEventRules(placed="Order Placed", cancelled="Order Cancelled")
    assert "Order Cancelled" in by_metric(OrderEventProjector(custom).events(order(orderState="Cancelled")))


def test_every_refund_transaction_counts_once() -> None:
    def txn(tid: str, kind: str, state: str, cents: int, at: str) -> dict[str, Any]:
        return {"id": tid, "type": kind, "state": state, "amount": eur(cents), "timestamp": at}

    payment = {
        "id": "pay-1",
        "transactions": [
            txn("t-1", "Charge", "Success", 12_345, CREATED),
            txn("t-2", "Refund", "Success", 2_345, "2026-11-06T00:00:00Z"),
            txn("t-3", "Refund", "Success", 1_000, "2026-11-07T00:00:00Z"),
            txn("t-4", "Refund", "Failure", 500, "2026-11-07T00:00:00Z"),
        ],
    }
    o = order(paymentInfo={"payments": [{"typeId": "payment", "id": "pay-1", "obj": payment}]})
    refunds = by_metric(P.events(o))["Refunded Order"]
    assert [(e["unique_id"], e["value"], e["time"]) for e in refunds] == [
        ("o-1:refund:t-2", 23.45, "2026-11-06T00:00:00Z"),
        ("o-1:refund:t-3", 10.0, "2026-11-07T00:00:00Z"),
    ]


def test_refunded_return_items_count_when_there_are_no_refund_transactions() -> None:
    info = {
        "returnDate": "2026-11-04T00:00:00Z",
        "items": [
            {"id": "r-1", "lineItemId": "li-1", "quantity": 1, "paymentState": "Refunded",
             "shipmentState": "Returned", "lastModifiedAt": "2026-11-08T00:00:00Z"},
            {"id": "r-2", "lineItemId": "li-2", "quantity": 1, "paymentState": "Initial",
             "shipmentState": "Returned", "lastModifiedAt": "2026-11-08T00:00:00Z"},
        ],
    }  # fmt: skip
    [refund] = by_metric(P.events(order(returnInfo=[info])))["Refunded Order"]
    assert refund["unique_id"] == "o-1:return:r-1" and refund["value"] == 50.0
    assert refund["time"] == "2026-11-08T00:00:00Z"
    # a refunded payment state alone is one refund of the whole order
    [whole] = by_metric(P.events(order(paymentState="Refunded")))["Refunded Order"]
    assert whole["unique_id"] == "o-1:refunded" and whole["value"] == 123.45


def test_guest_orders_and_orders_without_anyone() -> None:
    guest = P.events(order(customerId=None, customerEmail=" Guest@Shop.example "))
    assert all(e["profile"] == {"email": "guest@shop.example"} for e in guest)
    registered_bad_email = P.events(order(customerEmail="not an email"))
    assert registered_bad_email[0]["profile"] == {"external_id": "c-1"}
    with pytest.raises(RecordValidationError) as info:
        P.events(order(customerId=None, customerEmail=None))
    assert info.value.field == "customerEmail"
    with pytest.raises(RecordValidationError):
        P.events(order(customerId=None, customerEmail="@@"))
    with pytest.raises(RecordValidationError) as missing:
        P.events(order(createdAt=None))
    assert missing.value.field == "createdAt"


def test_money_uses_the_fraction_digits() -> None:
    assert money({"centAmount": 1234, "fractionDigits": 0, "currencyCode": "JPY"}) == (1234.0, "JPY")
    assert money({"centAmount": 1, "fractionDigits": 3, "currencyCode": "KWD"}) == (0.001, "KWD")
    assert money(None) == (None, None)


def test_the_vendors_example_order(specs_dir: Path) -> None:
    example = json.loads((specs_dir / "commercetools" / "examples" / "order.example.json").read_text())
    events = by_metric(P.events(example))
    [placed] = events["Placed Order"]
    assert placed["unique_id"] == example["id"] and placed["time"] == example["createdAt"]
    assert (placed["value"], placed["value_currency"]) == (10.0, "EUR")
    assert placed["profile"] == {"external_id": example["customerId"]}
    [product] = events["Ordered Product"]
    assert (
        product["properties"]["ProductName"] == "MyProduct" and product["properties"]["SKU"] == "some-sku-123"
    )


@given(
    state=st.fixed_dictionaries(
        {},
        optional={
            "orderState": st.sampled_from(["Open", "Confirmed", "Complete", "Cancelled"]),
            "shipmentState": st.sampled_from(["Shipped", "Delivered", "Ready", "Pending", "Delayed"]),
            "paymentState": st.sampled_from(["Paid", "Refunded", "Pending", "BalanceDue"]),
        },
    )
)
def test_events_are_deterministic_and_unique(state: dict[str, str]) -> None:
    o = order(**state)
    first, second = P.events(copy.deepcopy(o)), P.events(copy.deepcopy(o))
    assert first == second
    keys = [(e["metric"], e["unique_id"]) for e in first]
    assert len(keys) == len(set(keys))
