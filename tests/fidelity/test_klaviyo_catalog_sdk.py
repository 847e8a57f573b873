"""The official ``klaviyo-api`` SDK drives the emulator's catalog and bulk event endpoints.

The SDK's pydantic models must parse every response; its URL building must reach the compound ids.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ApiException

from crmsync.emulators.klaviyo import KlaviyoEmulator

ITEM = "$custom:::$default:::SDK-1"
CATEGORY = "$custom:::$default:::SDK-CAT"


def _item(external_id: str, **extra: Any) -> dict[str, Any]:
    attrs = {
        "external_id": external_id,
        "title": "Shirt",
        "description": "Blue",
        "url": "https://x.example.com/s",
    }
    return {"type": "catalog-item", "attributes": {**attrs, **extra}}


def test_catalog_round_trip_through_the_sdk(sdk: KlaviyoAPI, klaviyo_emulator: KlaviyoEmulator) -> None:
    category = sdk.Catalogs.create_catalog_category(
        {"data": {"type": "catalog-category", "attributes": {"external_id": "SDK-CAT", "name": "Shirts"}}}
    )
    assert category.data.id == CATEGORY and category.data.attributes.name == "Shirts"
    body = {"data": _item("SDK-1", price=19.5, images=["https://img.example.com/1.png"])}
    body["data"]["relationships"] = {"categories": {"data": [{"type": "catalog-category", "id": CATEGORY}]}}
    created = sdk.Catalogs.create_catalog_item(body)
    assert created.data.id == ITEM and created.data.attributes.price == 19.5
    assert created.data.attributes.created is not None

    fetched = sdk.Catalogs.get_catalog_item(ITEM, fields_catalog_item=["title", "price"])
    assert fetched["data"]["attributes"] == {"title": "Shirt", "price": 19.5}  # sparse: the SDK gives a dict
    page = sdk.Catalogs.get_catalog_items(filter=f'equals(category.id,"{CATEGORY}")', sort="-created")
    assert [d.id for d in page.data] == [ITEM]

    patch = {"data": {"type": "catalog-item", "id": ITEM, "attributes": {"price": 17.0}}}
    assert sdk.Catalogs.update_catalog_item(ITEM, patch).data.attributes.price == 17.0
    ids = sdk.Catalogs.get_category_ids_for_catalog_item(ITEM)
    assert [d.id for d in ids.data] == [CATEGORY]
    sdk.Catalogs.remove_items_from_catalog_category(
        CATEGORY, {"data": [{"type": "catalog-item", "id": ITEM}]}
    )
    assert klaviyo_emulator.catalog_items[ITEM]["category_ids"] == []
    sdk.Catalogs.add_items_to_catalog_category(CATEGORY, {"data": [{"type": "catalog-item", "id": ITEM}]})
    items = sdk.Catalogs.get_items_for_catalog_category(CATEGORY)
    assert [d.id for d in items.data] == [ITEM]

    with pytest.raises(ApiException) as info:
        sdk.Catalogs.create_catalog_item({"data": _item("SDK-1")})
    assert info.value.status == 409
    assert json.loads(info.value.body)["errors"][0]["code"] == "conflict"

    sdk.Catalogs.delete_catalog_item(ITEM)
    with pytest.raises(ApiException) as info:
        sdk.Catalogs.get_catalog_item(ITEM)
    assert info.value.status == 404


def test_catalog_bulk_job_through_the_sdk(sdk: KlaviyoAPI, klaviyo_emulator: KlaviyoEmulator) -> None:
    body = {
        "data": {
            "type": "catalog-item-bulk-create-job",
            "attributes": {"items": {"data": [_item(f"SDK-B{n}") for n in range(3)]}},
        }
    }
    job = sdk.Catalogs.bulk_create_catalog_items(body)
    assert job.data.attributes.status == "queued" and job.data.attributes.total_count == 3
    deadline = time.monotonic() + 5
    while True:
        polled = sdk.Catalogs.get_bulk_create_catalog_items_job(job.data.id, include=["items"])
        if polled.data.attributes.status == "complete":
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert polled.data.attributes.completed_count == 3 and len(polled.included) == 3
    listed = sdk.Catalogs.get_bulk_create_catalog_items_jobs(filter='equals(status,"complete")')
    assert [j.id for j in listed.data] == [job.data.id]
    assert len(klaviyo_emulator.catalog_items) == 3


def test_bulk_create_events_through_the_sdk(sdk: KlaviyoAPI, klaviyo_emulator: KlaviyoEmulator) -> None:
    def event(unique_id: str) -> dict[str, Any]:
        metric = {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}}
        return {
            "type": "event",
            "attributes": {"properties": {"n": 1}, "metric": metric, "unique_id": unique_id},
        }

    entry = {
        "type": "event-bulk-create",
        "attributes": {
            "profile": {"data": {"type": "profile", "attributes": {"email": "sdk-bulk@example.com"}}},
            "events": {"data": [event("a"), event("b")]},
        },
    }
    body = {
        "data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": [entry]}}}
    }
    assert sdk.Events.bulk_create_events(body) is None
    events = klaviyo_emulator.find_events(profile_email="sdk-bulk@example.com")
    assert sorted(e["unique_id"] for e in events) == ["a", "b"]
    entry["attributes"]["events"]["data"] = [event("c"), event("c")]
    with pytest.raises(ApiException) as info:
        sdk.Events.bulk_create_events(body)
    assert info.value.status == 400
