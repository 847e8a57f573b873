"""Catalog, catalog bulk job and bulk event responses validate against the spec's response schemas.

Same approach as ``test_klaviyo_response_schemas.py``: every response body (success and error) is
validated with ``OAS30Validator`` against the schema the spec gives for its operation and status.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from .test_klaviyo_response_schemas import HEADERS, SpecValidator

pytestmark = pytest.mark.specs
Call = Callable[..., Any]
ITEM = "$custom:::$default:::SKU-1"
CATEGORY = "$custom:::$default:::CAT-1"


@pytest.fixture(scope="module")
def catalog_validator(specs_dir: Path) -> SpecValidator:
    spec = json.loads((specs_dir / "klaviyo" / "openapi-stable.json").read_text(encoding="utf-8"))
    return SpecValidator(spec)


@pytest.fixture()
async def call(catalog_validator: SpecValidator) -> AsyncIterator[Call]:
    emulator = KlaviyoEmulator(job_step_seconds=0.01, seed=5)
    base = await emulator.start()
    session = aiohttp.ClientSession(headers=HEADERS)

    async def _call(
        method: str,
        template: str,
        path: str | None = None,
        body: Any = None,
        expect: int = 200,
        **params: str,
    ) -> Any:
        async with session.request(
            method, base + (path or template), json=body, params=params or None
        ) as resp:
            text = await resp.text()
            doc = json.loads(text) if text else None
            assert resp.status == expect, (method, path or template, resp.status, doc)
        catalog_validator.validate(template, method, resp.status, doc)
        return doc

    try:
        yield _call
    finally:
        await session.close()
        await emulator.stop()


def _p(template: str, rid: str) -> str:
    return template.replace("{id}", quote(rid, safe="$:"))


async def test_catalog_item_and_category_operations(call: Call) -> None:
    category = {"data": {"type": "catalog-category", "attributes": {"external_id": "CAT-1", "name": "Cat"}}}
    await call("POST", "/api/catalog-categories", body=category, expect=201)
    await call("POST", "/api/catalog-categories", body=category, expect=409)
    item = {
        "data": {
            "type": "catalog-item",
            "attributes": {
                "external_id": "SKU-1",
                "title": "T",
                "description": "D",
                "url": "https://shop.example.com/sku-1",
                "price": 9.99,
                "images": ["https://img.example.com/1.png"],
                "custom_metadata": {"k": "v"},
            },
            "relationships": {"categories": {"data": [{"type": "catalog-category", "id": CATEGORY}]}},
        }
    }
    await call("POST", "/api/catalog-items", body=item, expect=201)
    await call("POST", "/api/catalog-items", body=item, expect=409)
    await call(
        "POST", "/api/catalog-items", body={"data": {"type": "catalog-item", "attributes": {}}}, expect=400
    )
    await call("GET", "/api/catalog-items", include="variants", filter='contains(title,"T")')
    await call("GET", "/api/catalog-items", **{"page[size]": "1", "fields[catalog-item]": "title"})
    await call("GET", "/api/catalog-items/{id}", _p("/api/catalog-items/{id}", ITEM), include="variants")
    await call(
        "GET", "/api/catalog-items/{id}", _p("/api/catalog-items/{id}", "$custom:::$default:::no"), expect=404
    )
    patch = {"data": {"type": "catalog-item", "id": ITEM, "attributes": {"price": None, "published": False}}}
    await call("PATCH", "/api/catalog-items/{id}", _p("/api/catalog-items/{id}", ITEM), body=patch)
    await call("GET", "/api/catalog-categories", filter=f'equals(item.id,"{ITEM}")')
    await call("GET", "/api/catalog-categories/{id}", _p("/api/catalog-categories/{id}", CATEGORY))
    cpatch = {"data": {"type": "catalog-category", "id": CATEGORY, "attributes": {"name": "New"}}}
    await call(
        "PATCH", "/api/catalog-categories/{id}", _p("/api/catalog-categories/{id}", CATEGORY), body=cpatch
    )

    items_of = "/api/catalog-categories/{id}/items"
    await call("GET", items_of, _p(items_of, CATEGORY))
    rel_items = "/api/catalog-categories/{id}/relationships/items"
    await call("GET", rel_items, _p(rel_items, CATEGORY))
    link = {"data": [{"type": "catalog-item", "id": ITEM}]}
    for method in ("POST", "PATCH", "DELETE"):
        await call(method, rel_items, _p(rel_items, CATEGORY), body=link, expect=204)
    cats_of = "/api/catalog-items/{id}/categories"
    await call("GET", cats_of, _p(cats_of, ITEM))
    rel_cats = "/api/catalog-items/{id}/relationships/categories"
    await call("GET", rel_cats, _p(rel_cats, ITEM))
    clink = {"data": [{"type": "catalog-category", "id": CATEGORY}]}
    for method in ("POST", "PATCH", "DELETE"):
        await call(method, rel_cats, _p(rel_cats, ITEM), body=clink, expect=204)
    await call("DELETE", "/api/catalog-items/{id}", _p("/api/catalog-items/{id}", ITEM), expect=204)
    await call(
        "DELETE", "/api/catalog-categories/{id}", _p("/api/catalog-categories/{id}", CATEGORY), expect=204
    )


async def _wait(call: Call, template: str, job_id: str, **params: str) -> Any:
    for _ in range(300):
        doc = await call("GET", template, template.replace("{job_id}", job_id), **params)
        if doc["data"]["attributes"]["status"] == "complete":
            return doc
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} did not complete")


async def test_catalog_bulk_job_operations(call: Call) -> None:
    def attrs(n: int) -> dict[str, Any]:
        return {"external_id": f"J{n}", "title": "t", "description": "d", "url": "https://x.example.com/"}

    item, category = "catalog-item", "catalog-category"
    j1, k = "$custom:::$default:::J1", "$custom:::$default:::K"
    flows = [
        ("catalog-item-bulk-create-job", "items", [{"type": item, "attributes": attrs(1)}] * 2, "items"),
        (
            "catalog-item-bulk-update-job",
            "items",
            [{"type": item, "id": j1, "attributes": {"title": "u"}}],
            "items",
        ),
        (
            "catalog-category-bulk-create-job",
            "categories",
            [{"type": category, "attributes": {"external_id": "K", "name": "k"}}],
            "categories",
        ),
        (
            "catalog-category-bulk-update-job",
            "categories",
            [{"type": category, "id": k, "attributes": {"name": "n"}}],
            "categories",
        ),
        ("catalog-item-bulk-delete-job", "items", [{"type": item, "id": j1}], None),
        ("catalog-category-bulk-delete-job", "categories", [{"type": category, "id": k + "-gone"}], None),
    ]
    for kind, container, members, include in flows:
        path = f"/api/{kind}s"
        body = {"data": {"type": kind, "attributes": {container: {"data": members}}}}
        job = await call("POST", path, body=body, expect=202)
        params = {"include": include} if include else {}
        done = await _wait(call, path + "/{job_id}", job["data"]["id"], **params)
        await call("GET", path, filter='equals(status,"complete")')
        if kind == "catalog-item-bulk-create-job":
            assert done["data"]["attributes"]["failed_count"] == 1 and len(done["included"]) == 1
        await call(
            "POST", path, body={"data": {"type": kind, "attributes": {container: {"data": []}}}}, expect=400
        )


async def test_bulk_create_events_operation(call: Call) -> None:
    entry = {
        "type": "event-bulk-create",
        "attributes": {
            "profile": {"data": {"type": "profile", "attributes": {"email": "b@example.com"}}},
            "events": {
                "data": [
                    {
                        "type": "event",
                        "attributes": {
                            "properties": {"k": 1},
                            "unique_id": "u",
                            "metric": {"data": {"type": "metric", "attributes": {"name": "M"}}},
                        },
                    }
                ]
            },
        },
    }
    body = {
        "data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": [entry]}}}
    }
    await call("POST", "/api/event-bulk-create-jobs", body=body, expect=202)
    body["data"]["attributes"]["events-bulk-create"]["data"] = [entry, entry]
    await call("POST", "/api/event-bulk-create-jobs", body=body, expect=400)
