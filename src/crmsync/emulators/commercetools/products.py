"""Products (``/products``) and their projections (``/product-projections``).

A Product holds ``masterData {current, staged, published, hasStagedChanges}``; a
``ProductProjection`` is one of those ``ProductData`` flattened with the product's own fields. As on
the platform:

* ``POST /products`` makes the draft both the ``staged`` and the ``current`` data; ``publish: true``
  publishes it at once. Writes ``ProductCreated {productProjection}`` (the staged projection).
* Update actions take ``staged`` (default ``true``): staged changes touch only ``staged`` and set
  ``hasStagedChanges``; ``staged: false`` changes both. ``publish`` copies staged to current
  (``ProductPublished {removedImageUrls, productProjection, scope}``), ``unpublish`` hides the
  product from the current projections (``ProductUnpublished``).
* ``GET /product-projections`` serves the ``current`` projections of published products unless
  ``staged=true`` (then the staged projection of every product); an unpublished product is 404 there.
* ``DELETE`` writes ``ProductDeleted {removedImageUrls, currentProjection}``.
* SKUs and slugs (per locale) are unique across products (``DuplicateField``); ``categories`` must
  exist (``ReferencedResourceNotFound``). Product Types are resolved by :mod:`.product_types`.

Message identifiers of a product are its ``key`` and current ``slug`` (``resource-*-payload``
examples). Price selection parameters (``priceCurrency`` …) are not modelled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors
from ._util import Clock, jcopy, new_id
from .categories import CategoryRepository, check_key, check_slug
from .messages import Change, MessageLog
from .money import boolean, check_country, localized, money_draft, object_list, reference_id, string
from .product_types import ProductTypeRegistry
from .querying import Collection, OrderedIndex
from .references import TypeRegistry
from .repository import Payloads, Repository, run_actions, set_or_drop

PROJECTION_FIELDS = (
    "id", "version", "key", "productType", "name", "description", "categories", "categoryOrderHints",
    "slug", "metaTitle", "metaDescription", "metaKeywords", "masterVariant", "variants", "searchKeywords",
    "hasStagedChanges", "published", "taxCategory", "state", "priceMode", "createdAt", "lastModifiedAt",
    "attributes",
)  # fmt: skip
PRODUCT_FIELDS = (
    "id", "version", "createdAt", "lastModifiedAt", "lastModifiedBy", "createdBy", "key", "productType",
    "masterData", "taxCategory", "state", "priceMode",
)  # fmt: skip
_DATA_LOCALIZED = ("description", "metaTitle", "metaDescription", "metaKeywords")
PENDING: dict[str, Any] = {}  # placeholder for a projection filled in when the version is known


def build_price(draft: Any, where: str) -> dict[str, Any]:
    if not isinstance(draft, dict):
        raise errors.invalid_json(f"{where}: Expected a PriceDraft object")
    price: dict[str, Any] = {"id": new_id()}
    set_or_drop(price, "key", string(draft, "key", f"{where} -> "))
    price["value"] = money_draft(draft.get("value"), f"{where} -> value")
    set_or_drop(price, "country", check_country(draft.get("country"), f"{where} -> country"))
    for name in ("customerGroup", "channel", "validFrom", "validUntil", "tiers"):
        if draft.get(name) is not None:
            price[name] = jcopy(draft[name])
    return price


def build_prices(raw: Any, where: str) -> list[dict[str, Any]]:
    prices = [build_price(p, f"{where} -> {i}") for i, p in enumerate(object_list(raw, where))]
    scopes = [
        (p["value"]["currencyCode"], p.get("country"), str(p.get("customerGroup")), str(p.get("channel")))
        for p in prices
        if "validFrom" not in p and "validUntil" not in p
    ]
    if len(scopes) != len(set(scopes)):
        raise errors.CtApiError(400, "DuplicatePriceScope", f"{where}: Duplicate price scope.")
    return prices


def build_variant(draft: Any, variant_id: int, where: str) -> dict[str, Any]:
    draft = draft if isinstance(draft, dict) else {}
    variant: dict[str, Any] = {"id": variant_id}
    set_or_drop(variant, "sku", string(draft, "sku", f"{where} -> "))
    key = string(draft, "key", f"{where} -> ")
    check_key(key)
    set_or_drop(variant, "key", key)
    variant["prices"] = build_prices(draft.get("prices"), f"{where} -> prices")
    images = object_list(draft.get("images"), f"{where} -> images")
    for i, image in enumerate(images):
        if not isinstance(image.get("url"), str) or not isinstance(image.get("dimensions"), dict):
            raise errors.invalid_json(f"{where} -> images -> {i}: 'url' and 'dimensions' are required")
    variant["images"] = jcopy(images)
    variant["attributes"] = jcopy(object_list(draft.get("attributes"), f"{where} -> attributes"))
    variant["assets"] = jcopy(object_list(draft.get("assets"), f"{where} -> assets"))
    return variant


def variants_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [data["masterVariant"], *data["variants"]]


def image_urls(data: dict[str, Any]) -> list[str]:
    return [image["url"] for variant in variants_of(data) for image in variant["images"]]


def projection(product: dict[str, Any], staged: bool) -> dict[str, Any]:
    """The ``ProductProjection`` of the staged or current data, in the platform's field order."""
    master = product["masterData"]
    data = master["staged" if staged else "current"]
    out: dict[str, Any] = {"id": product["id"], "version": product["version"]}
    set_or_drop(out, "key", product.get("key"))
    out["productType"] = product["productType"]
    for name in PROJECTION_FIELDS[4:16]:
        if name in data:
            out[name] = data[name]
    out["hasStagedChanges"] = master["hasStagedChanges"]
    out["published"] = master["published"]
    for name in ("taxCategory", "state", "priceMode"):
        set_or_drop(out, name, product.get(name))
    out["createdAt"] = product["createdAt"]
    out["lastModifiedAt"] = product["lastModifiedAt"]
    out["attributes"] = data["attributes"]
    return out


class ProductRepository(Repository):
    type_id = "product"
    resource_name = "products"

    def __init__(
        self,
        clock: Clock,
        messages: MessageLog,
        notify: Callable[[Change], None],
        *,
        types: TypeRegistry,
        product_types: ProductTypeRegistry,
        categories: CategoryRepository,
    ) -> None:
        super().__init__(clock, messages, notify, {name: None for name in PRODUCT_FIELDS})
        self.types = types
        self.product_types = product_types
        self.categories = categories
        self.current: dict[str, dict[str, Any]] = {}  # published products' current projections
        self.staged: dict[str, dict[str, Any]] = {}
        self._current_index = OrderedIndex()
        self._staged_index = OrderedIndex()
        self.skus: dict[str, tuple[str, int]] = {}  # sku -> (product id, variant id)
        self._slugs: dict[tuple[str, str], str] = {}

    def identifiers(self, resource: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        set_or_drop(found, "key", resource.get("key"))
        found["slug"] = resource["masterData"]["current"]["slug"]
        return found

    def projections(self, staged: bool) -> Collection:
        items, index = (self.staged, self._staged_index) if staged else (self.current, self._current_index)
        return Collection(
            all_items=lambda: list(items.values()),
            indexes={"id": index},
            schema={name: None for name in PROJECTION_FIELDS},
            count=lambda: len(items),
        )

    def require_projection(self, ident: str, by_key: bool, staged: bool) -> dict[str, Any]:
        product = self.get_by_key(ident) if by_key else self.get(ident)
        found = None if product is None else (self.staged if staged else self.current).get(product["id"])
        if found is None:
            raise errors.resource_not_found(ident, by="key" if by_key else "ID")
        return found

    # -- indexes of SKUs, slugs and projections ---------------------------------------------------
    def check_unique(self, resource: dict[str, Any]) -> None:
        super().check_unique(resource)
        own = resource["id"]
        seen: set[str] = set()
        for data in (resource["masterData"]["staged"], resource["masterData"]["current"]):
            for locale, text in data["slug"].items():
                if self._slugs.get((locale, text), own) != own:
                    raise errors.duplicate_field(f"slug.{locale}", text)
            for variant in variants_of(data):
                sku = variant.get("sku")
                if sku is None:
                    continue
                owner = self.skus.get(sku)
                if (owner is not None and owner[0] != own) or (
                    sku in seen and data is resource["masterData"]["staged"]
                ):
                    raise errors.duplicate_field("sku", sku)
                seen.add(sku)

    def _index_extras(self, product: dict[str, Any]) -> None:
        own = product["id"]
        for data in (product["masterData"]["current"], product["masterData"]["staged"]):
            self._slugs.update(((locale, text), own) for locale, text in data["slug"].items())
            for variant in variants_of(data):
                if variant.get("sku") is not None:
                    self.skus[variant["sku"]] = (own, variant["id"])
        self.staged[own] = projection(product, staged=True)
        self._staged_index.remove(own, lambda _item: True)
        self._staged_index.insert(own, self.staged[own])
        self._current_index.remove(own, lambda _item: True)
        if product["masterData"]["published"]:
            self.current[own] = projection(product, staged=False)
            self._current_index.insert(own, self.current[own])
        else:
            self.current.pop(own, None)

    def _unindex_extras(self, product: dict[str, Any]) -> None:
        own = product["id"]
        self._slugs = {k: v for k, v in self._slugs.items() if v != own}
        self.skus = {k: v for k, v in self.skus.items() if v[0] != own}
        for items, index in ((self.current, self._current_index), (self.staged, self._staged_index)):
            items.pop(own, None)
            index.remove(own, lambda _item: True)

    def insert(self, resource: dict[str, Any]) -> None:
        super().insert(resource)
        self._index_extras(resource)

    def replace(self, current: dict[str, Any], updated: dict[str, Any]) -> None:
        self._unindex_extras(current)
        super().replace(current, updated)
        self._index_extras(updated)

    def remove(self, current: dict[str, Any]) -> None:
        self._unindex_extras(current)
        super().remove(current)

    def before_commit(self, resource: dict[str, Any], payloads: Payloads) -> None:
        for message_type, fields in payloads:
            if fields.get("productProjection") is PENDING:
                fields["productProjection"] = projection(resource, staged=message_type == "ProductCreated")

    # -- drafts -----------------------------------------------------------------------------------
    def category_refs(self, raw: Any, where: str) -> list[dict[str, str]]:
        refs: list[dict[str, str]] = []
        for i, item in enumerate(object_list(raw, where)):
            ref = {"typeId": "category", "id": self.categories.resolve(item, f"{where} -> {i}")["id"]}
            if ref not in refs:
                refs.append(ref)
        return refs

    def build_data(self, draft: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {"name": localized(draft.get("name"), "name")}
        data["categories"] = self.category_refs(draft.get("categories"), "categories")
        data["categoryOrderHints"] = dict(draft.get("categoryOrderHints") or {})
        set_or_drop(data, "description", localized(draft.get("description"), "description", required=False))
        data["slug"] = check_slug(draft.get("slug"), "slug")
        for name in _DATA_LOCALIZED[1:]:
            set_or_drop(data, name, localized(draft.get(name), name, required=False))
        data["masterVariant"] = build_variant(draft.get("masterVariant"), 1, "masterVariant")
        variants = object_list(draft.get("variants"), "variants")
        data["variants"] = [build_variant(v, i + 2, f"variants -> {i}") for i, v in enumerate(variants)]
        data["searchKeywords"] = jcopy(draft.get("searchKeywords") or {})
        data["attributes"] = jcopy(object_list(draft.get("attributes"), "attributes"))
        return data

    # -- writes -----------------------------------------------------------------------------------
    def create(self, draft: Any, actor: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(draft, dict):
            raise errors.invalid_json("Expected a JSON object (ProductDraft).")
        product = self.new_base(new_id(), actor)
        key = string(draft, "key")
        check_key(key)
        set_or_drop(product, "key", key)
        product["productType"] = self.product_types.resolve(draft.get("productType"), "productType")
        data = self.build_data(draft)
        product["masterData"] = {
            "current": data,
            "staged": jcopy(data),
            "published": boolean(draft, "publish", False),
            "hasStagedChanges": False,
        }
        if draft.get("taxCategory") is not None:
            ident, tax_key = reference_id(draft["taxCategory"], "tax-category", "taxCategory")
            product["taxCategory"] = {"typeId": "tax-category", "id": ident or str(tax_key)}
        if draft.get("state") is not None:
            ident, state_key = reference_id(draft["state"], "state", "state")
            product["state"] = {"typeId": "state", "id": ident or str(state_key)}
        set_or_drop(product, "priceMode", string(draft, "priceMode"))
        return self.save_new(product, [("ProductCreated", {"productProjection": PENDING})], actor)

    def update(
        self, ident: str, by_key: bool, version: Any, actions: Any, actor: dict[str, Any]
    ) -> dict[str, Any]:
        from .product_actions import HANDLERS, ProductContext

        current = self.require(ident, by_key)
        self.check_version(current, version)
        ctx = ProductContext(jcopy(current), self.clock.now_iso(), repo=self)
        run_actions(ctx, actions, HANDLERS, "products")
        master = ctx.resource["masterData"]
        master["hasStagedChanges"] = master["staged"] != master["current"]
        return self.save_update(current, ctx, actor)

    def delete(self, ident: str, by_key: bool, version: Any, actor: dict[str, Any]) -> dict[str, Any]:
        current = self.require(ident, by_key)
        self.check_version(current, version)
        master = current["masterData"]
        urls = list(dict.fromkeys(image_urls(master["current"]) + image_urls(master["staged"])))
        payload = {"removedImageUrls": urls, "currentProjection": projection(current, staged=False)}
        return self.save_delete(current, version, [("ProductDeleted", payload)], actor)

    def line_item_variant(
        self, product_id: str | None, variant_id: int | None, sku: str | None, where: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The published product and current variant a ``LineItemDraft`` names (by id or SKU)."""
        if product_id is None and sku is not None:
            owner = self.skus.get(sku)
            if owner is None:
                raise errors.invalid_operation(
                    f"{where}: A product variant with the SKU '{sku}' does not exist."
                )
            product_id, variant_id = owner
        if product_id is None:
            raise errors.invalid_json(f"{where}: Either 'productId' or 'sku' must be set.")
        product = self.get(product_id)
        if product is None:
            raise errors.referenced_resource_not_found("product", id=product_id)
        if not product["masterData"]["published"]:
            raise errors.invalid_operation(f"{where}: The product '{product_id}' is not published.")
        data = product["masterData"]["current"]
        wanted = variant_id or 1
        variant = next((v for v in variants_of(data) if v["id"] == wanted), None)
        if variant is None:
            raise errors.invalid_operation(
                f"{where}: The product '{product_id}' has no variant with id {wanted}."
            )
        return product, variant
