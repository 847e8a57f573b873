"""Catalog items and categories: create (201), get, list, update (200), delete (204).

Collections (``GET /api/catalog-items``, ``GET /api/catalog-categories`` and the per-category /
per-item listings in :mod:`routes_catalog_relationships`) page with ``page[size]`` (default and
maximum 100) and an opaque ``page[cursor]``, sort by ``created`` / ``-created`` and accept the
spec's filters only: items ``any(ids,[...])``, ``equals(category.id,"...")``, ``contains(title,"...")``,
``equals(published,true)``; categories ``any(ids,[...])``, ``equals(item.id,"...")``,
``contains(name,"...")``. ``fields[catalog-item]`` / ``fields[catalog-category]`` are sparse
fieldsets; ``include=variants`` is accepted (the emulator models no variants, so it adds nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from aiohttp import web

from crmsync.emulators.klaviyo import catalog_validation, filters, query, render
from crmsync.emulators.klaviyo.catalog_render import (
    CATEGORY_FIELDS,
    ITEM_FIELDS,
    category_resource,
    item_resource,
    path_id,
)
from crmsync.emulators.klaviyo.catalog_store import CatalogCategory, CatalogItem
from crmsync.emulators.klaviyo.context import MB, base_url, context, no_content, read_json, respond
from crmsync.emulators.klaviyo.filters import spec
from crmsync.emulators.klaviyo.validation import resource

MAX_BODY = 5 * MB
VARIANT_FIELDS = (
    "created",
    "custom_metadata",
    "description",
    "external_id",
    "id",
    "image_full_url",
    "image_thumbnail_url",
    "images",
    "inventory_policy",
    "inventory_quantity",
    "price",
    "published",
    "sku",
    "title",
    "updated",
    "url",
)
ITEM_FILTERS: dict[str, filters.FieldSpec] = {
    "ids": spec("any"),
    "category.id": spec("equals", multi=True),
    "title": spec("contains"),
    "published": spec("equals", "bool"),
}
CATEGORY_FILTERS: dict[str, filters.FieldSpec] = {
    "ids": spec("any"),
    "item.id": spec("equals", multi=True),
    "name": spec("contains"),
}

R = TypeVar("R", CatalogItem, CatalogCategory)


def page_of(
    request: web.Request, pool: Iterable[R], specs: dict[str, filters.FieldSpec], kind: str
) -> query.Page[R]:
    """Filter, sort (``created``/``-created``) and cut one keyset page out of ``pool``."""
    q = request.query
    size = query.page_size(q, default=100, maximum=100)
    sort, descending = query.parse_sort(q, ("created",), "created")
    raw_filter = q.get("filter")
    compiled = filters.compile_filter(raw_filter, specs, kind) if raw_filter is not None else None
    cursor = query.decode_cursor(q, sort)
    with context(request).store.lock:
        matching = [r for r in pool if compiled is None or compiled.predicate(r.get)]

    def key(found: R) -> query.SortKey:
        return (*query.sort_value(found.created), found.id)

    return query.keyset_page(
        matching, key, size=size, descending=descending, after=cursor.key if cursor else None
    )


def collection(
    request: web.Request, page: query.Page[Any], data: list[Any], included: list[Any] | None = None
) -> web.Response:
    sort, _ = query.parse_sort(request.query, ("created",), "created")
    doc = render.document(
        data, str(request.url), next_link=query.next_link(request, sort, page.next_key), included=included
    )
    return respond(doc)


def item_fields(request: web.Request) -> list[str] | None:
    query.parse_list(request.query, "fields[catalog-variant]", VARIANT_FIELDS)
    return query.parse_list(request.query, "fields[catalog-item]", ITEM_FIELDS)


def category_fields(request: web.Request) -> list[str] | None:
    return query.parse_list(request.query, "fields[catalog-category]", CATEGORY_FIELDS)


def include_variants(request: web.Request) -> bool:
    return bool(query.parse_list(request.query, "include", ("variants",)))


def render_items(request: web.Request, page: query.Page[CatalogItem]) -> web.Response:
    fields, variants = item_fields(request), include_variants(request)
    base = base_url(request)
    data = [item_resource(i, base, fields=fields, include_variants=variants) for i in page.items]
    return collection(request, page, data, [] if variants else None)


def render_categories(request: web.Request, page: query.Page[CatalogCategory]) -> web.Response:
    fields = category_fields(request)
    base = base_url(request)
    return collection(request, page, [category_resource(c, base, fields=fields) for c in page.items])


def _single(
    data: dict[str, Any], self_link: str, status: int = 200, included: list[Any] | None = None
) -> web.Response:
    doc: dict[str, Any] = {"data": data, "links": {"self": self_link}}
    if included is not None:
        doc["included"] = included
    return respond(doc, status)


# -- items -----------------------------------------------------------------------------------------
async def get_catalog_items(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    with catalog.lock:
        pool = list(catalog.items.values())
    return render_items(request, page_of(request, pool, ITEM_FILTERS, "catalog-item"))


async def create_catalog_item(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    fields = item_fields(request)
    data = resource(await read_json(request, MAX_BODY), "catalog-item")
    external_id, attributes, categories = catalog_validation.item_create(data)
    item = catalog.create_item(external_id, attributes, categories)
    base = base_url(request)
    return _single(item_resource(item, base, fields=fields), f"{base}/api/catalog-items/", 201)


async def get_catalog_item(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    item = catalog.item(request.match_info["id"])
    fields, variants = item_fields(request), include_variants(request)
    base = base_url(request)
    return _single(
        item_resource(item, base, fields=fields, include_variants=variants),
        f"{base}/api/catalog-items/{path_id(item.id)}/",
        included=[] if variants else None,
    )


async def update_catalog_item(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    item_id = request.match_info["id"]
    fields = item_fields(request)
    body = await read_json(request, MAX_BODY)
    item = catalog.item(item_id)
    data = resource(body, "catalog-item", path_id=item_id)
    attributes, categories = catalog_validation.item_update(data)
    catalog.update_item(item, attributes, categories)
    base = base_url(request)
    return _single(item_resource(item, base, fields=fields), f"{base}/api/catalog-items/{path_id(item.id)}/")


async def delete_catalog_item(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    catalog.delete_item(catalog.item(request.match_info["id"]))
    return no_content()


# -- categories ------------------------------------------------------------------------------------
async def get_catalog_categories(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    with catalog.lock:
        pool = list(catalog.categories.values())
    return render_categories(request, page_of(request, pool, CATEGORY_FILTERS, "catalog-category"))


async def create_catalog_category(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    fields = category_fields(request)
    data = resource(await read_json(request, MAX_BODY), "catalog-category")
    external_id, name, items = catalog_validation.category_create(data)
    category = catalog.create_category(external_id, name, items)
    base = base_url(request)
    return _single(category_resource(category, base, fields=fields), f"{base}/api/catalog-categories/", 201)


async def get_catalog_category(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    category = catalog.category(request.match_info["id"])
    base = base_url(request)
    return _single(
        category_resource(category, base, fields=category_fields(request)),
        f"{base}/api/catalog-categories/{path_id(category.id)}/",
    )


async def update_catalog_category(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    category_id = request.match_info["id"]
    fields = category_fields(request)
    body = await read_json(request, MAX_BODY)
    category = catalog.category(category_id)
    data = resource(body, "catalog-category", path_id=category_id)
    name, items = catalog_validation.category_update(data)
    catalog.update_category(category, name, items)
    base = base_url(request)
    return _single(
        category_resource(category, base, fields=fields),
        f"{base}/api/catalog-categories/{path_id(category.id)}/",
    )


async def delete_catalog_category(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    catalog.delete_category(catalog.category(request.match_info["id"]))
    return no_content()
