"""Line items of carts and orders: price selection, totals, item states and external tax rates.

* Price selection (``LineItemPriceMode`` ``Platform``): the variant's Price in the cart currency whose
  ``country`` is the cart's country, else the one without a country; Prices scoped to a customer
  group or channel, or outside their validity window, are not selected. No match is 400
  ``MatchingPriceNotFound {productId, variantId, currency, country?}``. An ``externalPrice`` makes
  the line item ``ExternalPrice``.
* ``totalPrice`` = price × quantity (no discounts are modelled, so ``discountedPricePerQuantity`` is
  ``[]``); every item starts in the ``Initial`` line item state
  (``state: [{quantity, state: {typeId: "state", id}}]``).
* Taxes: an ``externalTaxRate`` / imported ``taxRate`` gives the item a ``taxRate`` and a
  ``taxedPrice`` (``HalfEven`` rounding at line item level); the cart/order ``taxedPrice`` exists when
  every item has one. Platform tax categories are not modelled, so a ``Platform``-mode cart computes
  no taxes (as for products without a tax category).
"""

from __future__ import annotations

from typing import Any

from . import errors
from ._util import jcopy, new_id
from .money import check_country, integer, localized, money, money_draft, object_list, string
from .products import build_price
from .references import stable_id
from .repository import set_or_drop

INITIAL_STATE_ID = stable_id("state", "Initial")


def initial_state(quantity: int) -> list[dict[str, Any]]:
    return [{"quantity": quantity, "state": {"typeId": "state", "id": INITIAL_STATE_ID}}]


def select_price(
    variant: dict[str, Any], currency: str, country: str | None, now: str
) -> dict[str, Any] | None:
    fallback: dict[str, Any] | None = None
    prices: list[dict[str, Any]] = variant.get("prices", [])
    for price in prices:
        if price["value"]["currencyCode"] != currency or "customerGroup" in price or "channel" in price:
            continue
        if price.get("validFrom", "") > now or price.get("validUntil", "9999") < now:
            continue
        if price.get("country") is None:
            fallback = fallback or price
        elif price["country"] == country:
            return price
    return fallback


def tax_rate(draft: Any, where: str) -> dict[str, Any] | None:
    """An ``ExternalTaxRateDraft`` / ``TaxRate`` as stored ``TaxRate``."""
    if draft is None:
        return None
    if not isinstance(draft, dict):
        raise errors.invalid_json(f"{where}: Expected a TaxRate object")
    amount = draft.get("amount", 0)
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 <= amount <= 1:
        raise errors.invalid_field("amount", amount, f"{where}: The tax rate amount must be between 0 and 1.")
    rate: dict[str, Any] = {"name": string(draft, "name", f"{where} -> ", required=True), "amount": amount}
    rate["includedInPrice"] = bool(draft.get("includedInPrice", False))
    rate["country"] = check_country(draft.get("country"), f"{where} -> country")
    if rate["country"] is None:
        raise errors.invalid_json(f"{where} -> country: Missing required value")
    set_or_drop(rate, "state", string(draft, "state", f"{where} -> "))
    rate["subRates"] = jcopy(object_list(draft.get("subRates"), f"{where} -> subRates"))
    return rate


def taxed_item_price(total: dict[str, Any], rate: dict[str, Any]) -> dict[str, Any]:
    currency, cents = total["currencyCode"], total["centAmount"]
    if rate["includedInPrice"]:
        gross, net = cents, round(cents / (1 + rate["amount"]))
    else:
        net, gross = cents, round(cents * (1 + rate["amount"]))
    tax = money(currency, gross - net)
    return {
        "totalNet": money(currency, net),
        "totalGross": money(currency, gross),
        "taxPortions": [{"rate": rate["amount"], "amount": tax, "name": rate["name"]}],
        "totalTax": tax,
    }


def _finish(item: dict[str, Any], unit: dict[str, Any], rate: dict[str, Any] | None) -> None:
    item["totalPrice"] = money(unit["currencyCode"], unit["centAmount"] * item["quantity"])
    item.pop("taxedPrice", None)
    if rate is not None:
        item["taxRate"] = rate
        item["taxedPrice"] = taxed_item_price(item["totalPrice"], rate)


def reprice(item: dict[str, Any]) -> None:
    """Recompute ``totalPrice`` / ``taxedPrice`` after a quantity change (line or custom line item)."""
    unit = item["price"]["value"] if "price" in item else item["money"]
    _finish(item, unit, item.get("taxRate"))


def from_variant(
    product: dict[str, Any],
    variant: dict[str, Any],
    draft: dict[str, Any],
    *,
    currency: str,
    country: str | None,
    now: str,
    where: str,
) -> dict[str, Any]:
    """A cart ``LineItem`` for a published product variant from a ``LineItemDraft``."""
    quantity = integer(draft, "quantity", f"{where} -> ")
    quantity = 1 if quantity is None else quantity
    if quantity < 1:
        raise errors.invalid_field("quantity", quantity, f"{where}: The quantity must be at least 1.")
    if draft.get("externalPrice") is not None:
        price: dict[str, Any] | None = {
            "id": new_id(),
            "value": money_draft(draft["externalPrice"], f"{where} -> externalPrice"),
        }
        mode = "ExternalPrice"
    else:
        price, mode = select_price(variant, currency, country, now), "Platform"
    if price is None:
        extra = {"productId": product["id"], "variantId": variant["id"], "currency": currency}
        if country is not None:
            extra["country"] = country
        raise errors.CtApiError(
            400,
            "MatchingPriceNotFound",
            f"The variant '{variant['id']}' of product '{product['id']}' does not contain a price for "
            f"currency '{currency}'" + (f", country '{country}'." if country else "."),
            **extra,
        )
    if price["value"]["currencyCode"] != currency:
        raise errors.invalid_operation(
            f"{where}: The external price must be in the cart currency {currency}."
        )
    data = product["masterData"]["current"]
    item: dict[str, Any] = {"id": new_id()}
    set_or_drop(item, "key", string(draft, "key", f"{where} -> "))
    item["productId"] = product["id"]
    set_or_drop(item, "productKey", product.get("key"))
    item["name"] = data["name"]
    item["productType"] = product["productType"]
    item["productSlug"] = data["slug"]
    item["variant"] = variant
    item["price"] = price
    item["quantity"] = quantity
    item["discountedPricePerQuantity"] = []
    item["perMethodTaxRate"] = []
    item["addedAt"] = now
    item["lastModifiedAt"] = now
    item["state"] = initial_state(quantity)
    item["priceMode"] = mode
    item["lineItemMode"] = "Standard"
    item["taxedPricePortions"] = []
    _finish(item, price["value"], tax_rate(draft.get("externalTaxRate"), f"{where} -> externalTaxRate"))
    return item


def item_states(raw: Any, quantity: int, where: str) -> list[dict[str, Any]]:
    states = object_list(raw, where)
    if not states:
        return initial_state(quantity)
    if sum(s.get("quantity", 0) for s in states) != quantity:
        raise errors.invalid_operation(
            f"{where}: The item state quantities must add up to the quantity {quantity}."
        )
    return jcopy(states)


def from_import(
    product: dict[str, Any], variant: dict[str, Any], draft: dict[str, Any], where: str
) -> dict[str, Any]:
    """An order ``LineItem`` from a ``LineItemImportDraft`` (the product resolved by the caller)."""
    quantity = integer(draft, "quantity", f"{where} -> ", required=True)
    assert quantity is not None
    given = draft.get("variant") or {}
    snapshot = dict(variant)
    for name in ("prices", "attributes", "images"):
        if given.get(name) is not None:
            snapshot[name] = (
                [build_price(p, f"{where} -> variant -> prices") for p in given[name]]
                if name == "prices"
                else jcopy(given[name])
            )
    price = build_price(draft.get("price"), f"{where} -> price")
    data = product["masterData"]["current"]
    item: dict[str, Any] = {"id": new_id()}
    set_or_drop(item, "key", string(draft, "key", f"{where} -> "))
    item["productId"] = product["id"]
    set_or_drop(item, "productKey", product.get("key"))
    item["name"] = localized(draft.get("name"), f"{where} -> name")
    item["productType"] = product["productType"]
    item["productSlug"] = data["slug"]
    item["variant"] = snapshot
    item["price"] = price
    item["quantity"] = quantity
    item["discountedPricePerQuantity"] = []
    item["perMethodTaxRate"] = []
    item["state"] = item_states(draft.get("state"), quantity, f"{where} -> state")
    item["priceMode"] = "Platform"
    item["lineItemMode"] = "Standard"
    item["taxedPricePortions"] = []
    _finish(item, price["value"], tax_rate(draft.get("taxRate"), f"{where} -> taxRate"))
    return item


def custom_from_import(draft: dict[str, Any], where: str) -> dict[str, Any]:
    """A ``CustomLineItem`` from a ``CustomLineItemImportDraft``."""
    quantity = integer(draft, "quantity", f"{where} -> ", required=True)
    assert quantity is not None
    unit = money_draft(draft.get("money"), f"{where} -> money")
    item: dict[str, Any] = {"id": new_id()}
    set_or_drop(item, "key", string(draft, "key", f"{where} -> "))
    item["name"] = localized(draft.get("name"), f"{where} -> name")
    item["money"] = unit
    item["slug"] = string(draft, "slug", f"{where} -> ", required=True)
    item["quantity"] = quantity
    item["discountedPricePerQuantity"] = []
    item["state"] = item_states(draft.get("state"), quantity, f"{where} -> state")
    item["taxedPricePortions"] = []
    item["perMethodTaxRate"] = []
    item["priceMode"] = string(draft, "priceMode", f"{where} -> ") or "Standard"
    _finish(item, unit, tax_rate(draft.get("taxRate"), f"{where} -> taxRate"))
    return item


def totals(resource: dict[str, Any], currency: str) -> None:
    """Set ``totalPrice`` and ``taxedPrice`` of a cart or order from its (custom) line items."""
    items = [*resource["lineItems"], *resource["customLineItems"]]
    resource["totalPrice"] = money(currency, sum(i["totalPrice"]["centAmount"] for i in items))
    resource.pop("taxedPrice", None)
    if items and resource.get("taxMode") != "Disabled" and all("taxedPrice" in i for i in items):
        resource["taxedPrice"] = sum_taxed([i["taxedPrice"] for i in items], currency)


def sum_taxed(prices: list[dict[str, Any]], currency: str) -> dict[str, Any]:
    portions: dict[tuple[str | None, float], int] = {}
    for price in prices:
        for portion in price["taxPortions"]:
            slot = (portion.get("name"), portion["rate"])
            portions[slot] = portions.get(slot, 0) + portion["amount"]["centAmount"]
    net = sum(p["totalNet"]["centAmount"] for p in prices)
    gross = sum(p["totalGross"]["centAmount"] for p in prices)
    return {
        "totalNet": money(currency, net),
        "totalGross": money(currency, gross),
        "taxPortions": [
            {"rate": rate, "amount": money(currency, cents), "name": name}
            for (name, rate), cents in portions.items()
        ],
        "totalTax": money(currency, gross - net),
    }
