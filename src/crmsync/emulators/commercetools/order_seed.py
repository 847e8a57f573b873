"""Deterministic order history for the demo and the benchmarks, fast enough for 100,000 orders.

``seed_orders(n, seed)`` imports ``n`` orders (what ``POST /orders/import`` would store, with an
``OrderImported`` Message each unless ``messages=False``) for the existing customers — a
``guest_share`` of them are guest orders with only ``customerEmail`` — over the published products,
priced in the customer's currency (EUR, GBP for GB, USD for US) with the customer's address and
store. States are spread like a live shop:

* ``orderState``: ~15 % Open, 30 % Confirmed, 45 % Complete (``completedAt`` in the last year),
  10 % Cancelled; ``shipmentState`` follows (Pending/Ready → Shipped → Delivered, Canceled).
* ``paymentState``: Paid orders get a Payment with a successful ``Authorization`` and ``Charge``
  (``PaymentCreated`` Message) referenced in ``paymentInfo``; ~8 % of the completed ones have
  ``returnInfo`` with 1–2 returned items and a successful ``Refund`` per returned item; open orders
  are Pending or BalanceDue, some cancelled ones Failed.

Speed: products are turned into shared line-item templates once, resources are built as plain dicts
(the import validation is skipped: the data is valid by construction) and bulk-inserted, Messages are
written in bulk mode. Nothing stored is mutated later (updates copy), so sharing sub-objects such as
a variant snapshot or an address between orders is safe.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ._util import iso_millis, new_id
from .line_items import INITIAL_STATE_ID
from .money import money
from .products import variants_of
from .seed_data import COUNTRIES, COUNTRY_WEIGHTS

if TYPE_CHECKING:
    from .emulator import CommercetoolsEmulator

SEED_ACTOR = {"clientId": "emulator-seed", "isPlatformClient": False}
CURRENCY_OF = {"GB": "GBP", "US": "USD"}
_STATE_REF = {"typeId": "state", "id": INITIAL_STATE_ID}
_ORDER_STATES = (("Open", 15), ("Confirmed", 30), ("Complete", 45), ("Cancelled", 10))
_COUNTRY_CODES = tuple(COUNTRY_WEIGHTS)


def _templates(emu: CommercetoolsEmulator) -> list[dict[str, Any]]:
    """One shared line-item template per published variant with a price per currency."""
    templates = []
    for product in emu.product_repo.by_id.values():
        if not product["masterData"]["published"]:
            continue
        data = product["masterData"]["current"]
        for variant in variants_of(data):
            prices = {p["value"]["currencyCode"]: p for p in variant["prices"] if "country" not in p}
            if not prices:
                continue
            head = {"productId": product["id"]}
            if product.get("key") is not None:
                head["productKey"] = product["key"]
            head.update(
                name=data["name"],
                productType=product["productType"],
                productSlug=data["slug"],
                variant=variant,
            )
            templates.append({"head": head, "prices": prices})
    return templates


class _Seeder:
    def __init__(self, emu: CommercetoolsEmulator, seed: int, guest_share: float, messages: bool) -> None:
        self.emu = emu
        self.messages = messages
        self.rng = random.Random(seed)
        self.guest_share = guest_share
        self.now = emu.clock.now()
        self.stamp = iso_millis(self.now)
        self.templates = _templates(emu)
        self.customers = sorted(emu.repo.by_id.values(), key=lambda c: c["createdAt"] + c["id"])
        self.addresses: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self.payments: list[dict[str, Any]] = []

    def customer_address(self, customer: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        cached = self.addresses.get(customer["id"])
        if cached is None:
            found = customer["addresses"][0] if customer.get("addresses") else None
            country = (
                found["country"]
                if found
                else next((c.code for c in COUNTRIES.values() if c.locale == customer.get("locale")), "DE")
            )
            shipped = {k: v for k, v in found.items() if k not in ("id", "key", "custom")} if found else None
            cached = self.addresses[customer["id"]] = (country, shipped)
        return cached

    def guest(self, index: int) -> tuple[str, str, dict[str, Any]]:
        rng = self.rng
        country = COUNTRIES[rng.choice(_COUNTRY_CODES)]
        first, last = rng.choice(country.first_names), rng.choice(country.last_names)
        city = rng.choice(country.cities)
        email = f"guest-{index}@{rng.choice(country.domains)}"
        shipped = {
            "firstName": first,
            "lastName": last,
            "streetName": rng.choice(country.streets),
            "streetNumber": str(rng.randint(1, 200)),
            "city": city.name,
            "country": country.code,
        }
        return country.code, email, shipped

    def line_items(self, currency: str) -> tuple[list[dict[str, Any]], int]:
        rng, items, total = self.rng, [], 0
        for template in rng.sample(
            self.templates, k=min(len(self.templates), rng.choice((1, 1, 2, 2, 3, 4)))
        ):
            price = template["prices"].get(currency) or next(iter(template["prices"].values()))
            if price["value"]["currencyCode"] != currency:
                continue
            quantity = rng.choice((1, 1, 1, 2, 3))
            cents = price["value"]["centAmount"] * quantity
            total += cents
            item = {
                "id": new_id(),
                **template["head"],
                "price": price,
                "quantity": quantity,
                "discountedPricePerQuantity": [],
                "perMethodTaxRate": [],
                "state": [{"quantity": quantity, "state": _STATE_REF}],
                "priceMode": "Platform",
                "lineItemMode": "Standard",
                "totalPrice": money(currency, cents),
                "taxedPricePortions": [],
            }
            items.append(item)
        return items, total

    def payment(self, currency: str, total: int, when: str, refunds: list[int]) -> dict[str, Any]:
        amount = money(currency, total)
        transactions = [
            {
                "id": new_id(),
                "timestamp": when,
                "type": "Authorization",
                "amount": amount,
                "state": "Success",
            },
            {"id": new_id(), "timestamp": when, "type": "Charge", "amount": amount, "state": "Success"},
        ]
        for cents in refunds:
            transactions.append(
                {
                    "id": new_id(),
                    "timestamp": when,
                    "type": "Refund",
                    "amount": money(currency, cents),
                    "state": "Success",
                }
            )
        payment = {
            "id": new_id(),
            "version": 1,
            "createdAt": self.stamp,
            "lastModifiedAt": self.stamp,
            "lastModifiedBy": SEED_ACTOR,
            "createdBy": SEED_ACTOR,
            "amountPlanned": amount,
            "paymentMethodInfo": {
                "paymentInterface": "STRIPE",
                "method": self.rng.choice(("CREDIT_CARD", "PAYPAL", "KLARNA")),
            },
            "paymentStatus": {},
            "transactions": transactions,
            "interfaceInteractions": [],
        }
        self.payments.append(payment)
        return payment

    def order(self, index: int, number: str) -> dict[str, Any] | None:
        rng = self.rng
        customer = None
        if self.customers and rng.random() >= self.guest_share:
            customer = self.customers[rng.randrange(len(self.customers))]
            country, shipping = self.customer_address(customer)
            email = customer["email"]
        else:
            country, email, shipping = self.guest(index)
        currency = CURRENCY_OF.get(country, "EUR")
        items, total = self.line_items(currency)
        if not items:
            return None
        state = rng.choices([s for s, _ in _ORDER_STATES], weights=[w for _, w in _ORDER_STATES])[0]
        completed = self.now - timedelta(days=rng.uniform(1, 365))
        order: dict[str, Any] = {
            "id": new_id(),
            "version": 1,
            "createdAt": self.stamp,
            "lastModifiedAt": self.stamp,
            "lastModifiedBy": SEED_ACTOR,
            "createdBy": SEED_ACTOR,
            "orderNumber": number,
        }
        if customer is not None:
            order["customerId"] = customer["id"]
        order["customerEmail"] = email
        order["store"] = {
            "typeId": "store",
            "key": COUNTRIES[country].store if country in COUNTRIES else "eu-store",
        }
        order.update(
            lineItems=items,
            customLineItems=[],
            totalPrice=money(currency, total),
            taxMode="External",
            taxRoundingMode="HalfEven",
            taxCalculationMode="LineItemLevel",
            inventoryMode="None",
        )
        if shipping is not None:
            order["billingAddress"] = shipping
            order["shippingAddress"] = shipping
        order.update(
            shippingMode="Single",
            shipping=[],
            itemShippingAddresses=[],
            discountCodes=[],
            directDiscounts=[],
            refusedGifts=[],
        )
        shipment, paid, refunds, returns = self.outcome(state, items)
        if paid:
            payment = self.payment(currency, total, iso_millis(completed), refunds)
            order["paymentInfo"] = {"payments": [{"typeId": "payment", "id": payment["id"]}]}
        order.update(country=country, origin="Customer", orderState=state)
        if shipment is not None:
            order["shipmentState"] = shipment
        order["paymentState"] = (
            "Paid" if paid else rng.choice(("Pending", "BalanceDue") if state != "Cancelled" else ("Failed",))
        )
        order.update(syncInfo=[], returnInfo=returns)
        if self.messages:
            order["lastMessageSequenceNumber"] = 1
        if state == "Complete":
            order["completedAt"] = iso_millis(completed)
        return order

    def outcome(
        self, state: str, items: list[dict[str, Any]]
    ) -> tuple[str | None, bool, list[int], list[dict[str, Any]]]:
        rng = self.rng
        if state == "Open":
            return rng.choice((None, "Pending")), rng.random() < 0.3, [], []
        if state == "Confirmed":
            return rng.choice(("Pending", "Ready", "Shipped")), rng.random() < 0.9, [], []
        if state == "Cancelled":
            return "Canceled", False, [], []
        shipment = "Delivered" if rng.random() < 0.9 else "Shipped"
        if shipment != "Delivered" or rng.random() >= 0.08:
            return shipment, True, [], []
        returned = rng.sample(items, k=min(len(items), rng.choice((1, 2))))
        return_items = [
            {
                "id": new_id(),
                "quantity": 1,
                "type": "LineItemReturnItem",
                "lineItemId": item["id"],
                "shipmentState": "Returned",
                "paymentState": "Refunded",
                "createdAt": self.stamp,
                "lastModifiedAt": self.stamp,
            }
            for item in returned
        ]
        refunds = [item["price"]["value"]["centAmount"] for item in returned]
        info = {
            "items": return_items,
            "returnTrackingId": f"RT-{rng.randrange(10**8):08d}",
            "returnDate": self.stamp,
        }
        return shipment, True, refunds, [info]


def seed_orders(
    emu: CommercetoolsEmulator, n: int, seed: int, *, guest_share: float = 0.2, messages: bool = True
) -> dict[str, int]:
    seeder = _Seeder(emu, seed, guest_share, messages)
    if not seeder.templates:
        raise ValueError("seed_orders needs published products: call seed_catalog() first")
    start = 100_000_000 + len(emu.order_repo.by_id)
    orders = []
    for index in range(n):
        number = str(start + index)
        while number in emu.order_repo.by_key:
            number += "-1"
        order = seeder.order(index, number)
        if order is not None:
            orders.append(order)
    emu.payment_repo.bulk_insert(seeder.payments)
    emu.order_repo.bulk_insert(orders)
    if messages:
        with emu.message_log.bulk():
            for payment in seeder.payments:
                emu.payment_repo.commit(
                    "ResourceCreated", payment, None, [("PaymentCreated", {"payment": payment})], SEED_ACTOR
                )
            for order in orders:
                emu.order_repo.commit(
                    "ResourceCreated", order, None, [("OrderImported", {"order": order})], SEED_ACTOR
                )
    return {
        "orders": len(orders),
        "payments": len(seeder.payments),
        "guests": sum("customerId" not in o for o in orders),
    }
