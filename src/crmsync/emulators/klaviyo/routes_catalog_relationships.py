"""Item <-> category membership: the related-resource and relationship endpoints of the spec.

* ``GET /api/catalog-categories/{id}/items`` and ``GET /api/catalog-items/{id}/categories`` list the
  related resources with the collection's filters, sort and paging;
* ``GET .../relationships/items`` and ``GET .../relationships/categories`` list ``{type, id}``
  linkage only;
* ``POST`` adds, ``PATCH`` replaces, ``DELETE`` removes memberships — body
  ``{"data": [{"type": "catalog-item" | "catalog-category", "id": ...}]}`` — each answering 204.
  An unknown id in the body is a 404 and nothing changes.
"""

from __future__ import annotations

from aiohttp import web

from crmsync.emulators.klaviyo.catalog_validation import CATEGORY, ITEM, linkage
from crmsync.emulators.klaviyo.context import context, no_content, read_json
from crmsync.emulators.klaviyo.routes_catalog import (
    CATEGORY_FILTERS,
    ITEM_FILTERS,
    MAX_BODY,
    collection,
    page_of,
    render_categories,
    render_items,
)


async def _ids(request: web.Request, expected_type: str) -> list[str]:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        body = {}
    return linkage(body, expected_type, "")


# -- items of a category ---------------------------------------------------------------------------
async def get_items_for_catalog_category(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    category = catalog.category(request.match_info["id"])
    with catalog.lock:
        pool = [catalog.items[i] for i in category.items]
    return render_items(request, page_of(request, pool, ITEM_FILTERS, "catalog-item"))


async def get_item_ids_for_catalog_category(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    category = catalog.category(request.match_info["id"])
    with catalog.lock:
        pool = [catalog.items[i] for i in category.items]
    page = page_of(request, pool, ITEM_FILTERS, "catalog-item")
    return collection(request, page, [{"type": ITEM, "id": i.id} for i in page.items])


async def add_items_to_catalog_category(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    category = catalog.category(request.match_info["id"])
    catalog.add_items(category, await _ids(request, ITEM))
    return no_content()


async def update_items_for_catalog_category(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    category = catalog.category(request.match_info["id"])
    catalog.set_items(category, await _ids(request, ITEM))
    return no_content()


async def remove_items_from_catalog_category(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    category = catalog.category(request.match_info["id"])
    catalog.remove_items(category, await _ids(request, ITEM))
    return no_content()


# -- categories of an item -------------------------------------------------------------------------
async def get_categories_for_catalog_item(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    item = catalog.item(request.match_info["id"])
    with catalog.lock:
        pool = [catalog.categories[c] for c in item.categories]
    return render_categories(request, page_of(request, pool, CATEGORY_FILTERS, "catalog-category"))


async def get_category_ids_for_catalog_item(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    item = catalog.item(request.match_info["id"])
    with catalog.lock:
        pool = [catalog.categories[c] for c in item.categories]
    page = page_of(request, pool, CATEGORY_FILTERS, "catalog-category")
    return collection(request, page, [{"type": CATEGORY, "id": c.id} for c in page.items])


async def add_categories_to_catalog_item(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    item = catalog.item(request.match_info["id"])
    catalog.add_categories(item, await _ids(request, CATEGORY))
    return no_content()


async def update_categories_for_catalog_item(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    item = catalog.item(request.match_info["id"])
    catalog.set_categories(item, await _ids(request, CATEGORY))
    return no_content()


async def remove_categories_from_catalog_item(request: web.Request) -> web.Response:
    catalog = context(request).store.catalog
    item = catalog.item(request.match_info["id"])
    catalog.remove_categories(item, await _ids(request, CATEGORY))
    return no_content()
