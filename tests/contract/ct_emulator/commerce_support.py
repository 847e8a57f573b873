"""Helpers for the commerce-resource tests (orders, carts, payments, categories, products)."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .conftest import Api

EUR_DE = {"value": {"currencyCode": "EUR", "centAmount": 950}, "country": "DE"}


def price(currency: str, cents: int, **extra: Any) -> dict[str, Any]:
    return {"value": {"currencyCode": currency, "centAmount": cents}, **extra}


def product_draft(n: int, *, publish: bool = True, **extra: Any) -> dict[str, Any]:
    """A ProductDraft with a master variant ``SKU-<n>`` priced in EUR (1000, DE 950), GBP and USD."""
    return {
        "key": f"product-{n}",
        "productType": {"typeId": "product-type", "key": "generic"},
        "name": {"en": f"Product {n}"},
        "slug": {"en": f"product-{n}"},
        "masterVariant": {
            "sku": f"SKU-{n}",
            "prices": [price("EUR", 1000), EUR_DE, price("GBP", 900), price("USD", 1100)],
            "images": [{"url": f"https://img.example.com/{n}.jpg", "dimensions": {"w": 800, "h": 600}}],
        },
        "variants": [{"sku": f"SKU-{n}-2", "prices": [price("EUR", 2000)]}],
        "publish": publish,
        **extra,
    }


async def created(api: Api, path: str, draft: Any) -> dict[str, Any]:
    status, body = await api.post(path, draft)
    assert status == 201, body
    return dict(body)


async def updated(api: Api, path: str, resource: dict[str, Any], *actions: dict[str, Any]) -> dict[str, Any]:
    status, body = await api.post(
        f"{path}/{resource['id']}", {"version": resource["version"], "actions": list(actions)}
    )
    assert status == 200, body
    return dict(body)


def messages_of(emu: CommercetoolsEmulator, resource_id: str) -> list[dict[str, Any]]:
    return [m for m in emu.messages if m["resource"]["id"] == resource_id]


def error_code(body: Any) -> str:
    assert set(body) >= {"statusCode", "message", "errors"}, body
    assert body["message"] == body["errors"][0]["message"]
    return str(body["errors"][0]["code"])


async def cart_for(api: Api, *skus: str, **extra: Any) -> dict[str, Any]:
    """An EUR cart with one of each SKU and a German shipping address."""
    draft = {
        "currency": "EUR",
        "shippingAddress": {"country": "DE", "city": "Berlin"},
        "lineItems": [{"sku": sku, "quantity": 1} for sku in skus],
        **extra,
    }
    return await created(api, "/carts", draft)
