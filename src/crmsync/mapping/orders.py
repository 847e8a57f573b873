"""commercetools orders → Klaviyo-style order events (seed 004: Placed Order, Ordered Product,
Fulfilled Order, Cancelled Order, Refunded Order).

One order becomes several events, each with a deterministic ``unique_id`` so that replays never
duplicate (Klaviyo keeps the first event per profile, metric and unique_id) and several refunds of
one order each count:

=================  ===========================  ==============================================
metric (default)   unique_id                    time
=================  ===========================  ==============================================
Placed Order       ``<order id>``               order ``createdAt``
Ordered Product    ``<order id>:<line item>``   order ``createdAt``
Fulfilled Order    ``<order id>:fulfilled``     the state change (message ``createdAt``)
Cancelled Order    ``<order id>:cancelled``     the state change (message ``createdAt``)
Refunded Order     ``<order id>:refund:<txn>``  the Refund transaction's ``timestamp``
=================  ===========================  ==============================================

State-change times come from the source's messages (``OrderStateChanged`` and friends), which the
commercetools connector attaches to the order as ``_crmsync.state_times`` — in bulk and in live
sync alike, so both produce the same event time. When no message is left (retention), the time
falls back to ``completedAt`` / ``lastModifiedAt`` and the event says so (``TimeSource``).
Which states count as fulfilled or cancelled is configurable (:class:`OrderEventRules`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crmsync.errors import RecordValidationError
from crmsync.mapping.transforms.identity import normalize_email_address
from crmsync.mapping.transforms.registry import InvalidValue

STATE_TIMES = "_crmsync"  # key under which the source attaches facts the order itself lacks


class OrderEventRules(BaseModel):
    """Which facts become which metric; the defaults follow seed 004 and Klaviyo's conventions."""

    model_config = ConfigDict(extra="forbid")
    placed: str = "Placed Order"
    ordered_product: str | None = Field(default="Ordered Product", description="null: no per-item events")
    fulfilled: str | None = "Fulfilled Order"
    fulfilled_shipment_states: list[str] = Field(default_factory=lambda: ["Shipped", "Delivered"])
    fulfilled_order_states: list[str] = Field(default_factory=lambda: ["Complete"])
    cancelled: str | None = "Cancelled Order"
    cancelled_order_states: list[str] = Field(default_factory=lambda: ["Cancelled"])
    refunded: str | None = "Refunded Order"
    default_locale: str = "en"


def money(value: Mapping[str, Any] | None) -> tuple[float | None, str | None]:
    """A commercetools Money / CentPrecisionMoney as (amount in major units, currency)."""
    if not isinstance(value, Mapping) or "centAmount" not in value:
        return None, None
    digits = int(value.get("fractionDigits", 2))
    amount = Decimal(int(value["centAmount"])).scaleb(-digits)
    return float(amount), value.get("currencyCode")


def localized(value: Any, locale: str | None, fallback: str) -> str | None:
    """The LocalizedString's text in ``locale``, else its language, else ``fallback``, else any."""
    if isinstance(value, str) or value is None:
        return value
    if not isinstance(value, Mapping) or not value:
        return None
    for key in (locale, (locale or "").split("-")[0], fallback, fallback.split("-")[0]):
        if key and isinstance(value.get(key), str):
            return str(value[key])
    first = next(iter(value.values()))
    return first if isinstance(first, str) else None


class OrderEventProjector:
    """Turns one commercetools order into its event payloads (see the module docstring)."""

    def __init__(self, rules: OrderEventRules | None = None) -> None:
        self.rules = rules or OrderEventRules()

    def events(self, order: Mapping[str, Any]) -> list[dict[str, Any]]:
        rules = self.rules
        order_id = _required(order, "id")
        created = _required(order, "createdAt")
        profile = self.profile(order)
        locale = order.get("locale")
        total, currency = money(order.get("totalPrice"))
        items = [self._item(li, locale) for li in order.get("lineItems") or [] if isinstance(li, Mapping)]
        common = {
            "OrderId": order_id,
            "OrderNumber": order.get("orderNumber"),
            "Store": (order.get("store") or {}).get("key"),
            "Locale": locale,
            "Country": order.get("country"),
            "Source": "commercetools",
        }
        common = {k: v for k, v in common.items() if v is not None}
        times: Mapping[str, Any] = (order.get(STATE_TIMES) or {}).get("state_times") or {}

        def event(
            metric: str, suffix: str, time: str, value: float | None, props: dict[str, Any]
        ) -> dict[str, Any]:
            unique_id = f"{order_id}{suffix}"
            return {
                "metric": metric,
                "unique_id": unique_id,
                "time": time,
                "value": value,
                "value_currency": currency if value is not None else None,
                # ``$event_id`` (Klaviyo's name for it since the Track API) shows the unique id in
                # Klaviyo and in ``GET /api/events``, which does not return ``unique_id`` itself.
                "properties": {**common, **props, "$event_id": unique_id},
                "profile": profile,
            }

        out = [
            event(
                rules.placed,
                "",
                created,
                total,
                {
                    "ItemNames": [i["ProductName"] for i in items if i.get("ProductName")],
                    "Items": items,
                    "ItemCount": sum(int(i.get("Quantity") or 0) for i in items),
                    "DiscountCodes": self._discount_codes(order),
                },
            )
        ]
        if rules.ordered_product:
            for li, item in zip(order.get("lineItems") or [], items, strict=False):
                out.append(
                    event(rules.ordered_product, f":{li.get('id')}", created, item.get("RowTotal"), item)
                )
        state_events = (
            (rules.fulfilled, ":fulfilled", [("shipmentState", s) for s in rules.fulfilled_shipment_states]
             + [("orderState", s) for s in rules.fulfilled_order_states]),
            (rules.cancelled, ":cancelled", [("orderState", s) for s in rules.cancelled_order_states]),
        )  # fmt: skip
        for metric, suffix, states in state_events:
            if not metric:
                continue
            matched = [(field, state) for field, state in states if order.get(field) == state]
            if not matched:
                continue
            when, source = self._state_time(order, times, matched)
            out.append(event(metric, suffix, when, total, {"TimeSource": source}))
        if rules.refunded:
            out.extend(
                event(rules.refunded, suffix, when, value, props)
                for suffix, when, value, props in self._refunds(order, times)
            )
        return out

    def profile(self, order: Mapping[str, Any]) -> dict[str, str]:
        """The event's profile identifiers: the customer id (a registered customer's profile has it
        as ``external_id``) and the order's e-mail; a guest order has only the e-mail."""
        profile: dict[str, str] = {}
        if isinstance(order.get("customerId"), str) and order["customerId"]:
            profile["external_id"] = order["customerId"]
        email = order.get("customerEmail")
        if isinstance(email, str) and email.strip():
            try:
                profile["email"] = normalize_email_address(email)
            except InvalidValue as exc:
                if not profile:
                    raise RecordValidationError(
                        f"order customerEmail is not a valid e-mail address: {exc}", field="customerEmail"
                    ) from None
        if not profile:
            raise RecordValidationError(
                "order has neither customerId nor customerEmail: no profile to attach its events to",
                field="customerEmail",
            )
        return profile

    def _item(self, li: Mapping[str, Any], locale: str | None) -> dict[str, Any]:
        variant = li.get("variant") or {}
        unit, _ = money((li.get("price") or {}).get("value"))
        row, _ = money(li.get("totalPrice"))
        images = [
            i.get("url") for i in variant.get("images") or [] if isinstance(i, Mapping) and i.get("url")
        ]
        item = {
            "ProductID": li.get("productId"),
            "ProductKey": li.get("productKey"),
            "SKU": variant.get("sku"),
            "ProductName": localized(li.get("name"), locale, self.rules.default_locale),
            "Quantity": li.get("quantity"),
            "ItemPrice": unit,
            "RowTotal": row,
            "ImageURL": images[0] if images else None,
        }
        return {k: v for k, v in item.items() if v is not None}

    @staticmethod
    def _discount_codes(order: Mapping[str, Any]) -> list[str]:
        codes: list[str] = []
        for entry in order.get("discountCodes") or []:
            ref = (entry or {}).get("discountCode") or {}
            code = (ref.get("obj") or {}).get("code") or ref.get("id")
            if code:
                codes.append(str(code))
        return codes

    @staticmethod
    def _state_time(
        order: Mapping[str, Any], times: Mapping[str, Any], matched: list[tuple[str, str]]
    ) -> tuple[str, str]:
        """When the order entered the (first reached) matching state, and where that time came from."""
        found = [t for field, state in matched if isinstance(t := (times.get(field) or {}).get(state), str)]
        if found:
            return min(found), "message"
        fallback = order.get("completedAt") or order.get("lastModifiedAt") or order["createdAt"]
        return str(fallback), "order"

    def _refunds(
        self, order: Mapping[str, Any], times: Mapping[str, Any]
    ) -> list[tuple[str, str, float | None, dict[str, Any]]]:
        """Each successful Refund transaction of the order's payments is one refund; without any,
        each refunded return item is; without those, a ``Refunded`` payment state is one."""
        refunds: list[tuple[str, str, float | None, dict[str, Any]]] = []
        for ref in (order.get("paymentInfo") or {}).get("payments") or []:
            payment = (ref or {}).get("obj") or {}
            for txn in payment.get("transactions") or []:
                if txn.get("type") != "Refund" or txn.get("state") != "Success":
                    continue
                value, _ = money(txn.get("amount"))
                props = {"PaymentId": payment.get("id"), "TransactionId": txn.get("id")}
                when = txn.get("timestamp") or txn.get("createdAt") or order["createdAt"]
                refunds.append((f":refund:{txn.get('id')}", str(when), value, props))
        if refunds:
            return refunds
        prices = {
            li.get("id"): money((li.get("price") or {}).get("value"))[0]
            for li in order.get("lineItems") or []
        }
        for info in order.get("returnInfo") or []:
            for item in info.get("items") or []:
                if item.get("paymentState") != "Refunded":
                    continue
                unit = prices.get(item.get("lineItemId"))
                value = unit * int(item.get("quantity") or 0) if unit is not None else None
                when = item.get("lastModifiedAt") or info.get("returnDate") or order["createdAt"]
                props = {"ReturnItemId": item.get("id"), "LineItemId": item.get("lineItemId")}
                refunds.append((f":return:{item.get('id')}", str(when), value, props))
        if refunds:
            return refunds
        if order.get("paymentState") == "Refunded":
            when, source = self._state_time(order, times, [("paymentState", "Refunded")])
            refunds.append((":refunded", when, money(order.get("totalPrice"))[0], {"TimeSource": source}))
        return refunds


def _required(order: Mapping[str, Any], field: str) -> str:
    value = order.get(field)
    if not isinstance(value, str) or not value:
        raise RecordValidationError(f"order has no {field}", field=field)
    return value
