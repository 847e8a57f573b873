"""Every event and catalog body the connector sends validates against its operation's request schema.

Bodies are captured on the wire by the scripted server (the connector's real client sends them) and
validated with ``OAS30Validator`` against the spec; attribute names are checked against the resource
schema too, since Klaviyo's ``attributes`` schemas are open and would let a misspelt field through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector, KlaviyoSettings, catalog_id
from crmsync.ports import Projection
from tests.contract.klaviyo_connector import spec as specs
from tests.unit.klaviyo_connector.fake_klaviyo import Captured, FakeKlaviyo, Reply, error_body

pytestmark = pytest.mark.specs

EVENT: dict[str, Any] = {
    "metric": "Placed Order",
    "time": "2026-11-23T10:00:00Z",
    "unique_id": "order-1",
    "value": 123.45,
    "value_currency": "EUR",
    "properties": {"Items": [{"Sku": "S1", "Quantity": 2}], "ItemNames": ["Shirt"], "Store": None},
    "profile": {"external_id": "cust-1", "email": "ann@example.com", "phone_number": "+4915112345678"},
}
ITEM: dict[str, Any] = {
    "external_id": "SKU-1",
    "title": "Shirt",
    "description": "Blue shirt",
    "url": "https://shop.example.com/p/sku-1",
    "price": 19.9,
    "image_full_url": "https://cdn.example.com/1.jpg",
    "image_thumbnail_url": "https://cdn.example.com/1-thumb.jpg",
    "images": ["https://cdn.example.com/1.jpg"],
    "published": True,
    "custom_metadata": {"brand": "Acme"},
    "categories": ["CAT-1", "CAT-2"],
}
MINIMAL_ITEM: dict[str, Any] = {
    "external_id": "SKU-2",
    "title": "T",
    "description": "D",
    "url": "U",
    "categories": [],
}
CATEGORY: dict[str, Any] = {"external_id": "CAT-1", "name": "Shirts"}
EXISTS = Reply(409, error_body(409, "conflict", "already exists"))


@pytest.fixture
def spec(specs_dir: Path) -> dict[str, Any]:
    return specs.load_spec(specs_dir / "klaviyo" / "openapi-stable.json")


@pytest.fixture
async def wire() -> AsyncIterator[tuple[FakeKlaviyo, KlaviyoConnector]]:
    fake = FakeKlaviyo()
    base_url = await fake.start()
    settings = KlaviyoSettings(api_key="pk_spec_test", base_url=base_url, bulk_poll_interval_seconds=0.01)
    connector = KlaviyoConnector("kl", settings)
    try:
        yield fake, connector
    finally:
        await connector.aclose()
        await fake.stop()


def _valid(spec: dict[str, Any], operation_id: str, captured: Captured) -> dict[str, Any]:
    method, _, _ = specs.operation(spec, operation_id)
    assert captured.method == method
    body: dict[str, Any] = captured.json()
    assert specs.errors(spec, operation_id, body) == []
    return body


def _known(spec: dict[str, Any], schema: str, attributes: dict[str, Any]) -> None:
    assert specs.unknown_attributes(spec, schema, attributes) == set()


def _job(fake: FakeKlaviyo, job_type: str, job_id: str, errors: list[Any] | None = None) -> None:
    path = f"/api/{job_type}s"
    fake.on("POST", path, Reply(202, {"data": {"type": job_type, "id": job_id}}))
    attributes = {"status": "complete", "total_count": 2, "errors": errors or []}
    fake.on(
        "GET",
        f"{path}/{job_id}",
        Reply(200, {"data": {"type": job_type, "id": job_id, "attributes": attributes}}),
    )


def _conflict(position: int, container: str) -> dict[str, Any]:
    pointer = f"/data/attributes/{container}/data/{position}/attributes/external_id"
    return {
        "id": "e",
        "code": "conflict",
        "title": "Conflict",
        "detail": "exists",
        "source": {"pointer": pointer},
    }


async def test_create_event_body(spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoConnector]) -> None:
    fake, connector = wire
    fake.on("POST", "/api/events", Reply(202))
    assert (await connector.upsert(Projection("event", "order-1", EVENT))).ok
    no_value = {**EVENT, "value": None, "value_currency": None, "profile": {"email": "b@example.com"}}
    assert (await connector.upsert(Projection("event", "order-2", no_value))).ok
    for captured in fake.sent("POST", "/api/events"):
        data = _valid(spec, "create_event", captured)["data"]
        _known(spec, "EventCreateQueryV2ResourceObject", data["attributes"])
        _known(
            spec, "EventProfileCreateQueryResourceObject", data["attributes"]["profile"]["data"]["attributes"]
        )
        assert None not in data["attributes"].values()


async def test_bulk_create_events_body(
    spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoConnector]
) -> None:
    fake, connector = wire
    fake.on("POST", "/api/event-bulk-create-jobs", Reply(202))
    items = [
        Projection(
            "event",
            f"order-{n}",
            {**EVENT, "unique_id": f"order-{n}", "profile": {"external_id": f"c-{n % 3}"}},
        )
        for n in range(20)
    ]
    assert all(r.ok for r in await connector.bulk_upsert(items))
    body = _valid(spec, "bulk_create_events", fake.sent("POST", "/api/event-bulk-create-jobs")[0])
    for entry in body["data"]["attributes"]["events-bulk-create"]["data"]:
        _known(
            spec,
            "OnsiteProfileCreateQueryResourceObject",
            entry["attributes"]["profile"]["data"]["attributes"],
        )
        for event in entry["attributes"]["events"]["data"]:
            _known(spec, "BaseEventCreateQueryBulkEntryResourceObject", event["attributes"])


async def test_single_catalog_bodies(
    spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoConnector]
) -> None:
    fake, connector = wire
    item_path = "/api/catalog-items/$custom:::$default:::SKU-1"
    category_path = "/api/catalog-categories/$custom:::$default:::CAT-1"
    fake.on("POST", "/api/catalog-items", Reply(201, {"data": {"type": "catalog-item", "id": "x"}}), EXISTS)
    fake.on("PATCH", item_path, Reply(200, {"data": {"type": "catalog-item", "id": "x"}}))
    fake.on("POST", "/api/catalog-categories", EXISTS)
    fake.on("PATCH", category_path, Reply(200, {"data": {"type": "catalog-category", "id": "x"}}))
    fake.on("DELETE", item_path, Reply(204))
    item = Projection("catalog_item", "SKU-1", ITEM)
    assert (await connector.upsert(item)).created is True
    assert (await connector.upsert(item)).created is False
    assert (await connector.upsert(Projection("catalog_category", "CAT-1", CATEGORY))).created is False
    assert (await connector.delete(item)).ok

    create_item, _ = fake.sent("POST", "/api/catalog-items")
    data = _valid(spec, "create_catalog_item", create_item)["data"]
    _known(spec, "CatalogItemCreateQueryResourceObject", data["attributes"])
    [update_item] = fake.sent("PATCH", item_path)
    data = _valid(spec, "update_catalog_item", update_item)["data"]
    _known(spec, "CatalogItemUpdateQueryResourceObject", data["attributes"])
    assert data["id"] == catalog_id("SKU-1")  # must match the path id
    data = _valid(spec, "create_catalog_category", fake.sent("POST", "/api/catalog-categories")[0])["data"]
    _known(spec, "CatalogCategoryCreateQueryResourceObject", data["attributes"])
    data = _valid(spec, "update_catalog_category", fake.sent("PATCH", category_path)[0])["data"]
    _known(spec, "CatalogCategoryUpdateQueryResourceObject", data["attributes"])
    assert data["id"] == catalog_id("CAT-1")
    assert specs.operation(spec, "delete_catalog_item")[1] == "/api/catalog-items/{id}"


async def test_catalog_bulk_job_bodies(
    spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoConnector]
) -> None:
    fake, connector = wire
    _job(fake, "catalog-category-bulk-create-job", "K1", [_conflict(0, "categories")])
    _job(fake, "catalog-category-bulk-update-job", "K2")
    _job(fake, "catalog-item-bulk-create-job", "I1", [_conflict(1, "items")])
    _job(fake, "catalog-item-bulk-update-job", "I2")
    _job(fake, "catalog-item-bulk-delete-job", "D1")
    _job(fake, "catalog-category-bulk-delete-job", "D2")
    items = [
        Projection("catalog_category", "CAT-1", CATEGORY),
        Projection("catalog_category", "CAT-2", {"external_id": "CAT-2", "name": "Trousers"}),
        Projection("catalog_item", "SKU-1", ITEM),
        Projection("catalog_item", "SKU-2", MINIMAL_ITEM),
    ]
    assert [r.created for r in await connector.bulk_upsert(items)] == [False, True, True, False]
    assert all(r.ok for r in await connector.bulk_delete(items))

    checks = {
        "bulk_create_catalog_categories": (
            "catalog-category-bulk-create-job",
            "categories",
            "Create",
            "Category",
        ),
        "bulk_update_catalog_categories": (
            "catalog-category-bulk-update-job",
            "categories",
            "Update",
            "Category",
        ),
        "bulk_create_catalog_items": ("catalog-item-bulk-create-job", "items", "Create", "Item"),
        "bulk_update_catalog_items": ("catalog-item-bulk-update-job", "items", "Update", "Item"),
        "bulk_delete_catalog_items": ("catalog-item-bulk-delete-job", "items", "Delete", "Item"),
        "bulk_delete_catalog_categories": (
            "catalog-category-bulk-delete-job",
            "categories",
            "Delete",
            "Category",
        ),
    }
    for operation_id, (job_type, container, action, noun) in checks.items():
        [captured] = fake.sent("POST", f"/api/{job_type}s")
        assert specs.operation(spec, operation_id)[1] == f"/api/{job_type}s"
        members = _valid(spec, operation_id, captured)["data"]["attributes"][container]["data"]
        assert members
        for member in members:
            if action != "Delete":
                _known(spec, f"Catalog{noun}{action}QueryResourceObject", member["attributes"])
    update = fake.sent("POST", "/api/catalog-item-bulk-update-jobs")[0].json()
    [member] = update["data"]["attributes"]["items"]["data"]
    assert member["id"] == catalog_id("SKU-2") and member["relationships"] == {"categories": {"data": []}}


def test_the_validator_catches_broken_event_and_catalog_bodies(spec: dict[str, Any]) -> None:
    event = {
        "type": "event",
        "attributes": {"properties": {}, "metric": {"data": {"type": "metric", "attributes": {}}}},
    }
    assert specs.errors(spec, "create_event", {"data": event})  # no metric name, no profile
    assert specs.errors(
        spec,
        "bulk_create_events",
        {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {}}}},
    )
    item = {"type": "catalog-item", "attributes": {"external_id": "x", "title": "t", "description": "d"}}
    assert specs.errors(spec, "create_catalog_item", {"data": item})  # no url
    assert specs.errors(
        spec, "update_catalog_item", {"data": {"type": "catalog-item", "attributes": {}}}
    )  # no id
    assert specs.errors(
        spec,
        "bulk_delete_catalog_items",
        {
            "data": {
                "type": "catalog-item-bulk-delete-job",
                "attributes": {"items": {"data": [{"type": "catalog-item"}]}},
            }
        },
    )
    assert specs.unknown_attributes(spec, "CatalogItemUpdateQueryResourceObject", {"external_id": "x"}) == {
        "external_id"
    }
