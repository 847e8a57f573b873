"""Catalog bulk jobs: 202 queued -> processing -> complete, per-member errors, limits, listing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.emulators.klaviyo.app import ROUTES
from crmsync.emulators.klaviyo.ratelimit import load_table

from ._catalog_support import bulk_doc, category_doc, cid, item_attrs, item_doc, wait_catalog_job
from ._support import HEADERS, Client, only_error

ITEM_CREATE = "/api/catalog-item-bulk-create-jobs"
ITEM_UPDATE = "/api/catalog-item-bulk-update-jobs"
ITEM_DELETE = "/api/catalog-item-bulk-delete-jobs"
CAT_CREATE = "/api/catalog-category-bulk-create-jobs"
CAT_UPDATE = "/api/catalog-category-bulk-update-jobs"
CAT_DELETE = "/api/catalog-category-bulk-delete-jobs"


def _items(*external_ids: str, **overrides: Any) -> list[dict[str, Any]]:
    return [{"type": "catalog-item", "attributes": item_attrs(e, **overrides)} for e in external_ids]


async def _submit(http: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, doc, _ = await http.post(path, body)
    assert status == 202, doc
    return doc["data"]


async def test_item_create_job_lifecycle_and_include(http: Client, emulator: KlaviyoEmulator) -> None:
    await http.post("/api/catalog-items", item_doc("TAKEN"))
    external = [f"B-{n}" for n in range(60)]
    body = bulk_doc("catalog-item-bulk-create-job", "items", _items(*external[:30], "TAKEN", *external[30:]))
    status, doc, _ = await http.post(ITEM_CREATE, body)
    assert status == 202
    job = doc["data"]
    assert job["type"] == "catalog-item-bulk-create-job" and len(job["id"]) == 26
    attrs = job["attributes"]
    assert (attrs["status"], attrs["total_count"], attrs["completed_count"], attrs["failed_count"]) == (
        "queued", 61, 0, 0,
    )  # fmt: skip
    assert (
        attrs["errors"] == [] and attrs["completed_at"] is None and attrs["created_at"] < attrs["expires_at"]
    )
    assert job["relationships"]["items"]["data"][30] == {"type": "catalog-item", "id": cid("TAKEN")}
    assert job["links"]["self"] == f"{emulator.base_url}{ITEM_CREATE}/{job['id']}/"
    assert doc["links"]["self"] == f"{emulator.base_url}{ITEM_CREATE}/"

    done, seen = await wait_catalog_job(http, ITEM_CREATE, job["id"])
    assert {"queued", "processing", "complete"} >= seen and "processing" in seen
    attrs = done["attributes"]
    assert (attrs["completed_count"], attrs["failed_count"]) == (60, 1)
    assert attrs["completed_at"] is not None
    [error] = attrs["errors"]
    assert set(error) == {"id", "code", "title", "detail", "source"}
    assert error["code"] == "conflict"
    assert error["source"] == {"pointer": "/data/attributes/items/data/30/attributes/external_id"}
    assert len(emulator.catalog_items) == 61
    assert emulator.catalog_jobs[job["id"]].status == "complete"

    status, doc, _ = await http.get(
        f"{ITEM_CREATE}/{job['id']}",
        include="items",
        **{"fields[catalog-item]": "title", "fields[catalog-item-bulk-create-job]": "status"},
    )
    assert status == 200
    assert doc["data"]["attributes"] == {"status": "complete"}
    assert len(doc["included"]) == 61 and doc["included"][0]["attributes"] == {"title": "Item B-0"}


async def test_item_update_and_delete_jobs(http: Client, emulator: KlaviyoEmulator) -> None:
    for name in ("U1", "U2"):
        await http.post("/api/catalog-items", item_doc(name, price=1))
    await http.post("/api/catalog-categories", category_doc("SALE"))
    members = [
        {
            "type": "catalog-item",
            "id": cid("U1"),
            "attributes": {"price": 5, "title": "Cheaper"},
            "relationships": {"categories": {"data": [{"type": "catalog-category", "id": cid("SALE")}]}},
        },
        {"type": "catalog-item", "id": cid("MISSING"), "attributes": {"price": 1}},
    ]
    job = await _submit(http, ITEM_UPDATE, bulk_doc("catalog-item-bulk-update-job", "items", members))
    done, _ = await wait_catalog_job(http, ITEM_UPDATE, job["id"])
    assert (done["attributes"]["completed_count"], done["attributes"]["failed_count"]) == (1, 1)
    assert done["attributes"]["errors"][0]["code"] == "not_found"
    assert done["attributes"]["errors"][0]["source"] == {"pointer": "/data/attributes/items/data/1"}
    state = emulator.catalog_items[cid("U1")]
    assert (state["price"], state["title"], state["category_ids"]) == (5, "Cheaper", [cid("SALE")])

    members = [{"type": "catalog-item", "id": cid("U1")}, {"type": "catalog-item", "id": cid("U2")}]
    job = await _submit(http, ITEM_DELETE, bulk_doc("catalog-item-bulk-delete-job", "items", members))
    done, _ = await wait_catalog_job(http, ITEM_DELETE, job["id"])
    assert done["attributes"]["completed_count"] == 2 and len(emulator.catalog_items) == 0
    assert emulator.catalog_categories[cid("SALE")]["item_ids"] == []
    status, doc, _ = await http.get(f"{ITEM_DELETE}/{job['id']}", include="items")
    assert status == 400 and only_error(doc)["source"] == {
        "parameter": "include"
    }  # no include on delete jobs


async def test_category_jobs(http: Client, emulator: KlaviyoEmulator) -> None:
    await http.post("/api/catalog-items", item_doc("I-1"))
    create = [
        {"type": "catalog-category", "attributes": {"external_id": "C1", "name": "One"},
         "relationships": {"items": {"data": [{"type": "catalog-item", "id": cid("I-1")}]}}},
        {"type": "catalog-category", "attributes": {"external_id": "C2", "name": "Two"}},
        {"type": "catalog-category", "attributes": {"external_id": "C3", "name": "Bad"},
         "relationships": {"items": {"data": [{"type": "catalog-item", "id": cid("nope")}]}}},
    ]  # fmt: skip
    job = await _submit(http, CAT_CREATE, bulk_doc("catalog-category-bulk-create-job", "categories", create))
    assert job["relationships"]["categories"]["data"][1] == {"type": "catalog-category", "id": cid("C2")}
    done, _ = await wait_catalog_job(http, CAT_CREATE, job["id"])
    assert (done["attributes"]["completed_count"], done["attributes"]["failed_count"]) == (2, 1)
    assert done["attributes"]["errors"][0]["source"] == {"pointer": "/data/attributes/categories/data/2"}
    assert sorted(emulator.catalog_categories) == [cid("C1"), cid("C2")]
    assert emulator.catalog_items[cid("I-1")]["category_ids"] == [cid("C1")]
    _, doc, _ = await http.get(f"{CAT_CREATE}/{job['id']}", include="categories")
    assert [c["id"] for c in doc["included"]] == [cid("C1"), cid("C2")]

    update = [{"type": "catalog-category", "id": cid("C2"), "attributes": {"name": "Deux"}}]
    job = await _submit(http, CAT_UPDATE, bulk_doc("catalog-category-bulk-update-job", "categories", update))
    await wait_catalog_job(http, CAT_UPDATE, job["id"])
    assert emulator.catalog_categories[cid("C2")]["name"] == "Deux"

    delete = [{"type": "catalog-category", "id": cid("C1")}]
    job = await _submit(http, CAT_DELETE, bulk_doc("catalog-category-bulk-delete-job", "categories", delete))
    await wait_catalog_job(http, CAT_DELETE, job["id"])
    assert sorted(emulator.catalog_categories) == [cid("C2")]
    assert emulator.catalog_items[cid("I-1")]["category_ids"] == []


BASE = "/data/attributes/items/data"


@pytest.mark.parametrize(
    ("members", "pointer"),
    [
        ([], BASE),
        (_items(*[f"X{n}" for n in range(101)]), BASE),
        (
            [*_items("A"), {"type": "catalog-item", "attributes": {"external_id": "B"}}],
            f"{BASE}/1/attributes/title",
        ),
        ([*_items("A", "B"), {"type": "catalog-category", "attributes": {}}], f"{BASE}/2/type"),
        ([*_items("A", price="1")], f"{BASE}/0/attributes/price"),
        (["not an object"], f"{BASE}/0"),
    ],
    ids=["empty", "101", "missing-title", "wrong-type", "bad-price", "not-object"],
)
async def test_item_create_job_request_validation(
    http: Client, emulator: KlaviyoEmulator, members: list[Any], pointer: str
) -> None:
    status, doc, _ = await http.post(ITEM_CREATE, bulk_doc("catalog-item-bulk-create-job", "items", members))
    assert status == 400, doc
    error = only_error(doc)
    assert (error["code"], error["source"]) == ("invalid", {"pointer": pointer})
    assert len(emulator.catalog_jobs) == 0


async def test_job_envelope_limits(http: Client, emulator: KlaviyoEmulator) -> None:
    assert (
        await http.post(
            ITEM_CREATE,
            bulk_doc("catalog-item-bulk-create-job", "items", _items(*[f"M{n}" for n in range(100)])),
        )
    )[0] == 202
    status, doc, _ = await http.post(
        ITEM_UPDATE,
        bulk_doc("catalog-item-bulk-update-job", "items", [{"type": "catalog-item", "attributes": {}}]),
    )
    assert status == 400 and only_error(doc)["source"] == {"pointer": f"{BASE}/0/id"}
    status, doc, _ = await http.post(CAT_DELETE, bulk_doc("catalog-item-bulk-delete-job", "categories", []))
    assert status == 409 and only_error(doc)["source"] == {"pointer": "/data/type"}
    status, doc, _ = await http.post(
        CAT_DELETE, {"data": {"type": "catalog-category-bulk-delete-job", "attributes": {}}}
    )
    assert status == 400 and only_error(doc)["source"] == {"pointer": "/data/attributes/categories"}
    raw = json.dumps(
        bulk_doc("catalog-item-bulk-create-job", "items", _items("BIG", description="d" * (5 * 1024 * 1024)))
    ).encode()
    status, doc, _ = await http.call("POST", ITEM_CREATE, raw=raw)
    assert status == 413 and only_error(doc)["code"] == "request_too_large"


async def test_get_unknown_or_other_kind_job_is_404(http: Client) -> None:
    job = await _submit(http, ITEM_CREATE, bulk_doc("catalog-item-bulk-create-job", "items", _items("K")))
    assert (await http.get(f"{ITEM_CREATE}/{job['id']}"))[0] == 200
    status, doc, _ = await http.get(f"{ITEM_UPDATE}/{job['id']}")
    assert status == 404 and only_error(doc)["code"] == "not_found"
    assert (await http.get(f"{CAT_CREATE}/01NOPE0000000000000000000A"))[0] == 404


async def test_list_jobs_filter_and_fields(http: Client) -> None:
    first = await _submit(http, ITEM_CREATE, bulk_doc("catalog-item-bulk-create-job", "items", _items("L1")))
    await wait_catalog_job(http, ITEM_CREATE, first["id"])
    second = await _submit(http, ITEM_CREATE, bulk_doc("catalog-item-bulk-create-job", "items", _items("L2")))
    status, doc, _ = await http.get(ITEM_CREATE)
    assert status == 200 and [j["id"] for j in doc["data"]] == [first["id"], second["id"]]
    status, doc, _ = await http.get(
        ITEM_CREATE,
        filter='equals(status,"complete")',
        **{"fields[catalog-item-bulk-create-job]": "status,total_count"},
    )
    assert [(j["id"], j["attributes"]) for j in doc["data"]] == [
        (first["id"], {"status": "complete", "total_count": 1})
    ]
    assert (await http.get(ITEM_DELETE))[2]["RateLimit-Limit"] == "350"
    status, doc, _ = await http.get(ITEM_CREATE, filter="equals(total_count,1)")
    assert status == 400 and only_error(doc)["source"] == {"parameter": "filter"}


@pytest.fixture()
async def slow_http() -> AsyncIterator[tuple[KlaviyoEmulator, Client]]:
    emu = KlaviyoEmulator(job_step_seconds=30, max_catalog_jobs_in_progress=2)
    await emu.start()
    try:
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            yield emu, Client(session, emu.base_url)
    finally:
        await emu.stop()


async def test_jobs_in_progress_limit_is_429(slow_http: tuple[KlaviyoEmulator, Client]) -> None:
    emulator, http = slow_http
    await _submit(http, ITEM_CREATE, bulk_doc("catalog-item-bulk-create-job", "items", _items("Q1")))
    await _submit(http, CAT_CREATE, bulk_doc("catalog-category-bulk-create-job", "categories", [
        {"type": "catalog-category", "attributes": {"external_id": "QC", "name": "q"}}
    ]))  # fmt: skip
    status, doc, headers = await http.post(
        ITEM_CREATE, bulk_doc("catalog-item-bulk-create-job", "items", _items("Q2"))
    )
    assert status == 429
    assert headers["Retry-After"] == "30" and "RateLimit-Limit" not in headers
    error = only_error(doc)
    assert error["code"] == "throttled" and "in progress" in error["detail"]
    assert [j.status for j in emulator.catalog_jobs.values()] == ["queued", "queued"]


def test_every_route_has_its_spec_operation_and_rate_limit() -> None:
    table = load_table()
    for method, path, operation_id, _ in ROUTES:
        assert operation_id in table, operation_id
        assert (table[operation_id].method, table[operation_id].path) == (method, path), operation_id
    assert len({(method, path) for method, path, _, _ in ROUTES}) == len(ROUTES)
    new = {op for _, path, op, _ in ROUTES if "catalog" in path or "event-bulk" in path}
    assert len(new) == 39
