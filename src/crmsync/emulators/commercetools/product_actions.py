"""Product update actions and the Messages each one writes.

Most actions take ``staged`` (default ``true``): staged → only ``masterData.staged`` changes;
``staged: false`` → ``staged`` and ``current`` both. Messages follow the spec's Message types:
``changeSlug`` → ``ProductSlugChanged {slug, oldSlug}``; ``addToCategory`` / ``removeFromCategory`` →
``ProductAddedToCategory`` / ``ProductRemovedFromCategory {category, staged}``; ``addPrice`` →
``ProductPriceAdded {variantId, price, staged}``; ``changePrice`` → ``ProductPriceChanged {variantId,
oldPrice, newPrice, staged, oldStagedPrice?}``; ``setPrices`` → ``ProductPricesSet {variantId, prices,
staged}``; ``removePrice`` → ``ProductPriceRemoved {variantId, price, staged}``; ``publish`` →
``ProductPublished {removedImageUrls, productProjection, scope}``; ``unpublish`` →
``ProductUnpublished``. ``changeName``, ``setDescription``, ``setKey`` and ``setMetaTitle`` … have no
Message type (only a ``ResourceUpdated`` change notification).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from ._util import jcopy
from .categories import check_key, check_slug
from .money import boolean, enum, integer, localized, string
from .products import PENDING, build_price, build_prices, image_urls, variants_of
from .repository import ActionContext, Handler, set_or_drop

if TYPE_CHECKING:
    from .products import ProductRepository


class ProductContext(ActionContext):
    def __init__(self, resource: dict[str, Any], now: str, *, repo: ProductRepository) -> None:
        super().__init__(resource, now)
        self.repo = repo

    def datas(self, action: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
        """``(staged, the ProductData the action changes)``."""
        staged = boolean(action, "staged", True, "actions -> ")
        master = self.resource["masterData"]
        return staged, [master["staged"]] if staged else [master["staged"], master["current"]]


def _variant(ctx: ProductContext, data: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
    variant_id = integer(action, "variantId", "actions -> ")
    sku = string(action, "sku", "actions -> ")
    for variant in variants_of(data):
        if (variant_id is not None and variant["id"] == variant_id) or (
            sku is not None and variant.get("sku") == sku
        ):
            return variant
    if variant_id is None and sku is None:
        raise errors.invalid_json("actions: Either 'variantId' or 'sku' must be set.")
    raise errors.invalid_operation(
        f"The product has no variant with {'id ' + str(variant_id) if variant_id else 'sku ' + str(sku)}."
    )


def _localized(name: str, required: bool) -> Handler:
    def handler(ctx: ProductContext, action: dict[str, Any]) -> None:
        value = localized(action.get(name), f"actions -> {name}", required=required)
        for data in ctx.datas(action)[1]:
            set_or_drop(data, name, value)

    return handler


def change_slug(ctx: ProductContext, action: dict[str, Any]) -> None:
    slug = check_slug(action.get("slug"), "actions -> slug")
    datas = ctx.datas(action)[1]
    old = datas[0]["slug"]
    for data in datas:
        data["slug"] = slug
    if slug != old:
        ctx.emit("ProductSlugChanged", slug=slug, oldSlug=old)


def add_to_category(ctx: ProductContext, action: dict[str, Any]) -> None:
    category = ctx.repo.categories.resolve(action.get("category"), "actions -> category")
    ref = {"typeId": "category", "id": category["id"]}
    staged, datas = ctx.datas(action)
    if ref in datas[0]["categories"]:
        raise errors.invalid_operation(f"The product is already in the category '{category['id']}'.")
    for data in datas:
        if ref not in data["categories"]:
            data["categories"].append(ref)
        hint = string(action, "orderHint", "actions -> ")
        if hint is not None:
            data["categoryOrderHints"][category["id"]] = hint
    ctx.emit("ProductAddedToCategory", category=ref, staged=staged)


def remove_from_category(ctx: ProductContext, action: dict[str, Any]) -> None:
    category = ctx.repo.categories.resolve(action.get("category"), "actions -> category")
    ref = {"typeId": "category", "id": category["id"]}
    staged, datas = ctx.datas(action)
    if ref not in datas[0]["categories"]:
        raise errors.invalid_operation(f"The product is not in the category '{category['id']}'.")
    for data in datas:
        if ref in data["categories"]:
            data["categories"].remove(ref)
        data["categoryOrderHints"].pop(category["id"], None)
    ctx.emit("ProductRemovedFromCategory", category=ref, staged=staged)


def add_price(ctx: ProductContext, action: dict[str, Any]) -> None:
    price = build_price(action.get("price"), "actions -> price")
    staged, datas = ctx.datas(action)
    variant_id = 0
    for data in datas:
        variant = _variant(ctx, data, action)
        variant_id = variant["id"]
        prices = [*variant["prices"], price]
        variant["prices"] = build_prices_checked(prices)
    ctx.emit("ProductPriceAdded", variantId=variant_id, price=price, staged=staged)


def build_prices_checked(prices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scopes = [
        (p["value"]["currencyCode"], p.get("country"), str(p.get("customerGroup")), str(p.get("channel")))
        for p in prices
        if "validFrom" not in p and "validUntil" not in p
    ]
    if len(scopes) != len(set(scopes)):
        raise errors.CtApiError(400, "DuplicatePriceScope", "A price with the same scope already exists.")
    return prices


def _find_price(datas: list[dict[str, Any]], price_id: str) -> list[tuple[dict[str, Any], int]]:
    found = []
    for data in datas:
        for variant in variants_of(data):
            for position, price in enumerate(variant["prices"]):
                if price["id"] == price_id:
                    found.append((variant, position))
    if not found:
        raise errors.invalid_operation(f"The product has no price with id '{price_id}'.")
    return found


def _lookup(data: dict[str, Any], price_id: str) -> dict[str, Any] | None:
    return next((p for v in variants_of(data) for p in v["prices"] if p["id"] == price_id), None)


def change_price(ctx: ProductContext, action: dict[str, Any]) -> None:
    price_id = string(action, "priceId", "actions -> ", required=True)
    assert price_id is not None
    new = build_price(action.get("price"), "actions -> price")
    new["id"] = price_id
    staged, datas = ctx.datas(action)
    master = ctx.resource["masterData"]
    old_current, old_staged = _lookup(master["current"], price_id), _lookup(master["staged"], price_id)
    variant_id = 0
    for variant, position in _find_price(datas, price_id):
        variant_id = variant["id"]
        variant["prices"][position] = new
        build_prices_checked(variant["prices"])
    ctx.emit(
        "ProductPriceChanged",
        variantId=variant_id,
        oldPrice=old_current or old_staged,
        newPrice=new,
        staged=staged,
        oldStagedPrice=old_staged if staged else None,
    )


def set_prices(ctx: ProductContext, action: dict[str, Any]) -> None:
    prices = build_prices(action.get("prices"), "actions -> prices")
    staged, datas = ctx.datas(action)
    variant_id = 0
    for data in datas:
        variant = _variant(ctx, data, action)
        variant_id = variant["id"]
        variant["prices"] = jcopy(prices)
    ctx.emit("ProductPricesSet", variantId=variant_id, prices=prices, staged=staged)


def remove_price(ctx: ProductContext, action: dict[str, Any]) -> None:
    price_id = string(action, "priceId", "actions -> ", required=True)
    assert price_id is not None
    staged, datas = ctx.datas(action)
    removed: dict[str, Any] = {}
    variant_id = 0
    for variant, position in _find_price(datas, price_id):
        removed = variant["prices"].pop(position)
        variant_id = variant["id"]
    ctx.emit("ProductPriceRemoved", variantId=variant_id, price=removed, staged=staged)


def publish(ctx: ProductContext, action: dict[str, Any]) -> None:
    scope = enum(action.get("scope"), ("All", "Prices"), "actions -> scope", required=False) or "All"
    master = ctx.resource["masterData"]
    old_urls = set(image_urls(master["current"]))
    if scope == "All":
        master["current"] = jcopy(master["staged"])
    else:
        staged_prices = {v["id"]: v["prices"] for v in variants_of(master["staged"])}
        for variant in variants_of(master["current"]):
            if variant["id"] in staged_prices:
                variant["prices"] = jcopy(staged_prices[variant["id"]])
    master["published"] = True
    master["hasStagedChanges"] = master["staged"] != master["current"]
    removed = sorted(old_urls - set(image_urls(master["current"])))
    ctx.payloads.append(
        ("ProductPublished", {"removedImageUrls": removed, "productProjection": PENDING, "scope": scope})
    )
    ctx.forced = True  # publishing always makes a new version and a ProductPublished Message


def unpublish(ctx: ProductContext, action: dict[str, Any]) -> None:
    master = ctx.resource["masterData"]
    if master["published"]:
        master["published"] = False
        ctx.emit("ProductUnpublished")


def set_key(ctx: ProductContext, action: dict[str, Any]) -> None:
    key = string(action, "key", "actions -> ")
    check_key(key)
    set_or_drop(ctx.resource, "key", key)


def add_external_image(ctx: ProductContext, action: dict[str, Any]) -> None:
    image = action.get("image")
    if not isinstance(image, dict) or not isinstance(image.get("url"), str) or "dimensions" not in image:
        raise errors.invalid_json("actions -> image: Expected an Image with 'url' and 'dimensions'")
    staged, datas = ctx.datas(action)
    variant_id = 0
    for data in datas:
        variant = _variant(ctx, data, action)
        variant_id = variant["id"]
        variant["images"].append(jcopy(image))
    ctx.emit("ProductImageAdded", variantId=variant_id, image=image, staged=staged)


HANDLERS: dict[str, Handler] = {
    "changeName": _localized("name", True),
    "setDescription": _localized("description", False),
    "setMetaTitle": _localized("metaTitle", False),
    "setMetaDescription": _localized("metaDescription", False),
    "setMetaKeywords": _localized("metaKeywords", False),
    "changeSlug": change_slug,
    "addToCategory": add_to_category,
    "removeFromCategory": remove_from_category,
    "addPrice": add_price,
    "changePrice": change_price,
    "setPrices": set_prices,
    "removePrice": remove_price,
    "addExternalImage": add_external_image,
    "publish": publish,
    "unpublish": unpublish,
    "setKey": set_key,
}
