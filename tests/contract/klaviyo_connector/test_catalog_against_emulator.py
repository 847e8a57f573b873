"""Catalog categories and items through the connector into the Klaviyo emulator: single and bulk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmsync.connectors.klaviyo import KlaviyoConnector, catalog_id, create
from crmsync.connectors.klaviyo.limits import OPERATION_LIMITS
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.errors import RecordValidationError
from crmsync.ports import Projection, RequestRecord
from tests.contract.klaviyo_connector.support import API_KEY


def _category(n: int, name: str | None = None) -> Projection:
    return Projection(
        "catalog_category", f"CAT-{n}", {"external_id": f"CAT-{n}", "name": name or f"Category {n}"}
    )


def _item(n: int, categories: list[int] | None = None, **payload: Any) -> Projection:
    body: dict[str, Any] = {
        "external_id": f"SKU-{n}",
        "title": f"Product {n}",
        "description": f"Description of {n}",
        "url": f"https://shop.example.com/p/{n}",
        "price": 10.0 + n,
        "image_full_url": f"https://cdn.example.com/{n}.jpg",
        "images": [f"https://cdn.example.com/{n}.jpg"],
        "published": True,
        "custom_metadata": {"brand": "Acme"},
        "categories": [f"CAT-{c}" for c in (categories if categories is not None else [n % 3])],
        **payload,
    }
    return Projection("catalog_item", f"SKU-{n}", body, correlation_id=f"corr-{n}")


async def test_category_and_item_create_update_delete(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    records: list[RequestRecord] = []
    connector = connect(records.append)
    for n in range(3):
        assert (await connector.upsert(_category(n))).created is True
    renamed = await connector.upsert(_category(0, "Shoes"))
    assert (renamed.ok, renamed.created) == (True, False)
    assert emulator.catalog_categories[catalog_id("CAT-0")]["name"] == "Shoes"

    created = await connector.upsert(_item(1, categories=[0, 1]))
    assert (created.ok, created.created, created.target_id) == (True, True, catalog_id("SKU-1"))
    stored = emulator.catalog_items[catalog_id("SKU-1")]
    assert stored["category_ids"] == [catalog_id("CAT-0"), catalog_id("CAT-1")]
    assert (stored["price"], stored["custom_metadata"]) == (11.0, {"brand": "Acme"})

    changed = _item(1, categories=[2], title="Renamed", price=None, image_full_url=None, images=None)
    del changed.payload["custom_metadata"], changed.payload["published"]
    updated = await connector.upsert(changed)
    assert (updated.ok, updated.created) == (True, False)
    stored = emulator.catalog_items[catalog_id("SKU-1")]
    assert stored["title"] == "Renamed" and stored["category_ids"] == [catalog_id("CAT-2")]
    assert (stored["price"], stored["image_full_url"], stored["images"], stored["custom_metadata"]) == (
        None,
    ) * 4
    assert stored["published"] is True
    assert emulator.catalog_categories[catalog_id("CAT-0")]["item_ids"] == []

    assert (await connector.delete(_item(1))).ok
    assert catalog_id("SKU-1") not in emulator.catalog_items
    gone = await connector.delete(_item(1))
    assert gone.ok and gone.error is None
    assert emulator.request_count(operation_id="delete_catalog_item", status=404) == 1
    assert (await connector.delete(_category(2))).ok and len(emulator.catalog_categories) == 2

    ops = [(r.operation, r.kind, r.record_key) for r in records]
    assert ("update_catalog_item", "catalog_item", "SKU-1") in ops
    assert ("delete_catalog_category", "catalog_category", "CAT-2") in ops
    assert all(r.kind and r.record_key for r in records)
    assert {r.operation for r in records} <= set(OPERATION_LIMITS)


async def test_invalid_item_names_the_field(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    result = await connect().upsert(_item(5, categories=[], price="cheap"))
    assert isinstance(result.error, RecordValidationError) and result.error.field == "price"
    assert catalog_id("SKU-5") not in emulator.catalog_items


async def test_bulk_create_update_and_delete_of_250_items(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    records: list[RequestRecord] = []
    connector = connect(records.append)
    categories = [_category(n) for n in range(3)]
    items = [_item(n) for n in range(250)]
    first = await connector.bulk_upsert(categories + items)
    assert all(r.ok and r.created for r in first), [r.error for r in first if not r.ok][:3]
    jobs = list(emulator.catalog_jobs.values())
    assert sorted((j.kind, j.total_count) for j in jobs) == [
        ("catalog-category-bulk-create-job", 3),
        ("catalog-item-bulk-create-job", 50),
        ("catalog-item-bulk-create-job", 100),
        ("catalog-item-bulk-create-job", 100),
    ]
    assert len(emulator.catalog_items) == 250
    assert emulator.catalog_items[catalog_id("SKU-7")]["category_ids"] == [catalog_id("CAT-1")]
    assert len(emulator.catalog_categories[catalog_id("CAT-0")]["item_ids"]) == 84

    changed = [_item(n, categories=[0, 2], title=f"New {n}") for n in range(250)]
    changed[10].payload["price"] = "free"  # refused by the update job for this member only
    changed.append(_item(250))  # new: created by the create job, the others updated
    second = await connector.bulk_upsert(changed)
    assert [n for n, r in enumerate(second) if not r.ok] == [10]
    error = second[10].error
    assert isinstance(error, RecordValidationError) and error.field == "price"
    assert [r.created for r in second if r.ok] == [False] * 249 + [True]
    kinds = [j.kind for j in emulator.catalog_jobs.values()]
    assert (
        kinds.count("catalog-item-bulk-create-job") == 6 and kinds.count("catalog-item-bulk-update-job") == 3
    )
    stored = emulator.catalog_items[catalog_id("SKU-7")]
    assert stored["title"] == "New 7" and stored["category_ids"] == [catalog_id("CAT-0"), catalog_id("CAT-2")]
    assert emulator.catalog_items[catalog_id("SKU-10")]["title"] == "Product 10"

    deleted = await connector.bulk_delete([*changed, _item(999), *categories])
    assert all(r.ok for r in deleted)
    assert len(emulator.catalog_items) == 0 and len(emulator.catalog_categories) == 0
    ops = {(r.operation, r.kind) for r in records}
    assert ("bulk_update_catalog_items", "catalog_item") in ops
    assert ("get_bulk_delete_categories_job", "catalog_category") in ops
    assert {r.operation for r in records} <= set(OPERATION_LIMITS)


async def test_the_jobs_in_progress_cap_is_waited_out() -> None:
    """Klaviyo refuses a job past its in-progress cap (500) with a 429: the job is sent again later."""
    emu = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.002, max_catalog_jobs_in_progress=1)
    await emu.start()
    connector = create(
        "klaviyo-catalog", {"api_key": API_KEY, "base_url": emu.base_url, "bulk_poll_interval_seconds": 0.005}
    )
    try:
        results = await connector.bulk_upsert([_item(n, categories=[]) for n in range(150)])
        assert all(r.ok and r.created for r in results)
        assert emu.request_count(operation_id="bulk_create_catalog_items", status=429) >= 1
        assert emu.request_count(operation_id="bulk_create_catalog_items", status=202) == 2
        assert len(emu.catalog_items) == 150
    finally:
        await connector.aclose()
        await emu.stop()
