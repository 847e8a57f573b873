"""Carts over HTTP: drafts, price selection, line item actions, taxes, unsupported features."""

from __future__ import annotations

import pytest

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .commerce_support import cart_for, created, error_code, product_draft, updated
from .conftest import Api


@pytest.fixture()
async def catalog(api: Api) -> list[dict]:
    return [await created(api, "/products", product_draft(n)) for n in (1, 2)]


async def test_create_prices_line_items_from_the_published_data(api: Api, catalog: list[dict]) -> None:
    cart = await created(
        api,
        "/carts",
        {
            "currency": "EUR",
            "country": "DE",
            "customerEmail": "a@example.com",
            "store": {"typeId": "store", "key": "eu-store"},
            "shippingAddress": {"country": "DE", "city": "Berlin"},
            "lineItems": [
                {"sku": "SKU-1", "quantity": 2},
                {"productId": catalog[1]["id"], "variantId": 2},
            ],
        },
    )
    assert cart["cartState"] == "Active" and cart["version"] == 1 and cart["origin"] == "Customer"
    assert cart["store"] == {"typeId": "store", "key": "eu-store"} and cart["taxMode"] == "Platform"
    first, second = cart["lineItems"]
    assert (
        first["price"]["country"] == "DE" and first["price"]["value"]["centAmount"] == 950
    )  # country price wins
    assert first["totalPrice"]["centAmount"] == 1900 and first["quantity"] == 2
    assert first["productId"] == catalog[0]["id"] and first["productKey"] == "product-1"
    assert first["name"] == {"en": "Product 1"} and first["variant"]["sku"] == "SKU-1"
    assert first["state"][0]["quantity"] == 2 and first["state"][0]["state"]["typeId"] == "state"
    assert (first["priceMode"], first["lineItemMode"]) == ("Platform", "Standard")
    assert (
        second["variant"]["id"] == 2
        and second["totalPrice"]["centAmount"] == 2000
        and second["quantity"] == 1
    )
    assert cart["totalPrice"] == {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": 3900,
        "fractionDigits": 2,
    }
    assert cart["totalLineItemQuantity"] == 3 and "taxedPrice" not in cart
    assert "id" not in cart["shippingAddress"]
    assert await api.get(f"/carts/{cart['id']}") == (200, cart)


async def test_line_item_actions(api: Api, catalog: list[dict]) -> None:
    cart = await cart_for(api, "SKU-1")
    cart = await updated(api, "/carts", cart, {"action": "addLineItem", "sku": "SKU-1", "quantity": 2})
    assert len(cart["lineItems"]) == 1 and cart["lineItems"][0]["quantity"] == 3  # merged
    cart = await updated(api, "/carts", cart, {"action": "addLineItem", "productId": catalog[1]["id"]})
    first, second = cart["lineItems"]
    assert cart["totalPrice"]["centAmount"] == 3000 + 1000 and cart["version"] == 3
    cart = await updated(
        api,
        "/carts",
        cart,
        {"action": "changeLineItemQuantity", "lineItemId": first["id"], "quantity": 1},
        {"action": "removeLineItem", "lineItemId": second["id"]},
        {"action": "setCustomerEmail", "email": "b@example.com"},
        {"action": "setShippingAddress", "address": {"country": "FR", "city": "Paris"}},
    )
    assert [i["quantity"] for i in cart["lineItems"]] == [1] and cart["totalPrice"]["centAmount"] == 1000
    assert cart["customerEmail"] == "b@example.com" and cart["shippingAddress"]["country"] == "FR"
    assert cart["version"] == 4
    status, body = await api.post(
        f"/carts/{cart['id']}",
        {"version": 4, "actions": [{"action": "removeLineItem", "lineItemId": "nope"}]},
    )
    assert status == 400 and error_code(body) == "InvalidOperation"
    status, body = await api.post(f"/carts/{cart['id']}", {"version": 3, "actions": []})
    assert status == 409 and body["errors"][0]["currentVersion"] == 4


async def test_carts_write_no_messages(api: Api, emu: CommercetoolsEmulator, catalog: list[dict]) -> None:
    before = len(emu.messages)
    cart = await cart_for(api, "SKU-1")
    await updated(api, "/carts", cart, {"action": "setCountry", "country": "DE"})
    assert len(emu.messages) == before


async def test_prices_and_references_must_exist(api: Api, catalog: list[dict]) -> None:
    status, body = await api.post("/carts", {"currency": "SEK", "lineItems": [{"sku": "SKU-1"}]})
    assert status == 400 and error_code(body) == "MatchingPriceNotFound"
    assert body["errors"][0]["productId"] == catalog[0]["id"] and body["errors"][0]["currency"] == "SEK"
    status, body = await api.post("/carts", {"currency": "EUR", "lineItems": [{"productId": "nope"}]})
    assert status == 400 and error_code(body) == "ReferencedResourceNotFound"
    hidden = await created(api, "/products", product_draft(3, publish=False))
    status, body = await api.post("/carts", {"currency": "EUR", "lineItems": [{"productId": hidden["id"]}]})
    assert status == 400 and error_code(body) == "InvalidOperation"
    status, body = await api.post("/carts", {"currency": "EUR", "customerId": "nope"})
    assert status == 400 and error_code(body) == "ReferencedResourceNotFound"
    status, body = await api.post("/carts", {"lineItems": []})
    assert status == 400 and error_code(body) == "InvalidJsonInput"


async def test_unsupported_features_are_refused_not_faked(api: Api, catalog: list[dict]) -> None:
    status, body = await api.post("/carts", {"currency": "EUR", "taxMode": "ExternalAmount"})
    assert status == 400 and error_code(body) == "InvalidOperation" and "ExternalAmount" in body["message"]
    status, body = await api.post(
        "/carts", {"currency": "EUR", "shippingMethod": {"typeId": "shipping-method", "id": "x"}}
    )
    assert status == 400 and error_code(body) == "InvalidOperation"
    cart = await cart_for(api, "SKU-1")
    status, body = await api.post(
        f"/carts/{cart['id']}", {"version": 1, "actions": [{"action": "addDiscountCode", "code": "SUMMER"}]}
    )
    assert status == 400 and error_code(body) == "DiscountCodeNonApplicable"
    assert body["errors"][0]["discountCode"] == "SUMMER" and body["errors"][0]["reason"] == "DoesNotExist"


async def test_external_tax_rates(api: Api, catalog: list[dict]) -> None:
    rate = {"name": "DE VAT", "amount": 0.19, "country": "DE"}
    cart = await created(
        api,
        "/carts",
        {
            "currency": "EUR",
            "taxMode": "External",
            "lineItems": [{"sku": "SKU-1-2", "quantity": 1, "externalTaxRate": rate}],
        },
    )
    (item,) = cart["lineItems"]
    assert item["taxRate"] == {**rate, "includedInPrice": False, "subRates": []}
    assert (
        item["taxedPrice"]["totalNet"]["centAmount"] == 2000
        and item["taxedPrice"]["totalGross"]["centAmount"] == 2380
    )
    assert cart["taxedPrice"]["totalTax"]["centAmount"] == 380
    assert cart["taxedPrice"]["taxPortions"] == [
        {
            "rate": 0.19,
            "amount": {
                "type": "centPrecision",
                "currencyCode": "EUR",
                "centAmount": 380,
                "fractionDigits": 2,
            },
            "name": "DE VAT",
        }
    ]
    status, body = await api.post(
        "/carts", {"currency": "EUR", "lineItems": [{"sku": "SKU-1", "externalTaxRate": rate}]}
    )
    assert status == 400 and error_code(body) == "InvalidOperation"


async def test_delete_and_query(api: Api, catalog: list[dict]) -> None:
    carts = [await cart_for(api, "SKU-1") for _ in range(3)]
    status, page = await api.get("/carts", sort="createdAt desc", limit="2")
    assert status == 200 and page["total"] == 3 and page["count"] == 2
    status, body = await api.call("DELETE", f"/carts/{carts[0]['id']}", params={"version": "1"})
    assert status == 200 and body["id"] == carts[0]["id"]
    assert (await api.get(f"/carts/{carts[0]['id']}"))[0] == 404
    status, body = await api.call("DELETE", f"/carts/{carts[1]['id']}")
    assert status == 400 and error_code(body) == "InvalidInput"
