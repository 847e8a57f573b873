"""Catalog delivery against scripted responses: create → 409 → update, delete, and the bulk jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector, catalog_id
from crmsync.connectors.klaviyo.catalog import update_resource
from crmsync.errors import CredentialsError, PermanentError, RecordValidationError, TransientError
from crmsync.ports import Projection, RequestRecord
from tests.unit.klaviyo_connector.fake_klaviyo import Captured, FakeKlaviyo, Reply, error_body

ITEMS = "/api/catalog-items"
CATEGORIES = "/api/catalog-categories"
CREATE_JOBS = "/api/catalog-item-bulk-create-jobs"
UPDATE_JOBS = "/api/catalog-item-bulk-update-jobs"
DELETE_JOBS = "/api/catalog-item-bulk-delete-jobs"
SKU1 = f"{ITEMS}/$custom:::$default:::SKU-1"


def _item(n: int | str = 1, **payload: Any) -> Projection:
    body: dict[str, Any] = {
        "external_id": f"SKU-{n}",
        "title": f"Shirt {n}",
        "description": "Blue",
        "url": f"https://shop.example.com/p/{n}",
        "price": 19.9,
        "categories": ["CAT-1"],
        **payload,
    }
    return Projection("catalog_item", f"SKU-{n}", body, correlation_id=f"corr-{n}")


def _category(n: int = 1) -> Projection:
    return Projection("catalog_category", f"CAT-{n}", {"external_id": f"CAT-{n}", "name": f"Cat {n}"})


def _resource(kind: str, rid: str) -> dict[str, Any]:
    return {"data": {"type": kind, "id": rid, "attributes": {}}}


def _exists() -> Reply:
    return Reply(409, error_body(409, "conflict", "already exists", source={"pointer": "/data/attributes"}))


def _job(job_type: str, job_id: str, status: str = "complete", errors: list[Any] | None = None) -> Reply:
    attributes = {"status": status, "total_count": 1, "errors": errors or []}
    return Reply(200, {"data": {"type": job_type, "id": job_id, "attributes": attributes}})


def _job_error(
    position: int, code: str, field: str | None = "title", container: str = "items"
) -> dict[str, Any]:
    pointer = f"/data/attributes/{container}/data/{position}" + (f"/attributes/{field}" if field else "")
    return {
        "id": "e",
        "code": code,
        "title": code,
        "detail": f"{code} detail",
        "source": {"pointer": pointer},
    }


def _members(captured: Captured, container: str = "items") -> list[dict[str, Any]]:
    return list(captured.json()["data"]["attributes"][container]["data"])


# -- single records ------------------------------------------------------------------------------------


async def test_item_is_created_with_its_categories(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], records: list[RequestRecord]
) -> None:
    fake.on("POST", ITEMS, Reply(201, _resource("catalog-item", catalog_id("SKU-1"))))
    result = await make_connector().upsert(_item())
    assert (result.ok, result.created, result.target_id, result.calls) == (True, True, catalog_id("SKU-1"), 1)
    data = fake.sent("POST", ITEMS)[0].json()["data"]
    assert (
        data["attributes"]["integration_type"] == "$custom"
        and data["attributes"]["catalog_type"] == "$default"
    )
    assert data["relationships"]["categories"]["data"] == [
        {"type": "catalog-category", "id": catalog_id("CAT-1")}
    ]
    assert [(r.operation, r.kind, r.record_key) for r in records] == [
        ("create_catalog_item", "catalog_item", "SKU-1")
    ]


async def test_existing_item_is_updated_clearing_absent_attributes_and_replacing_categories(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], records: list[RequestRecord]
) -> None:
    fake.on("POST", ITEMS, _exists())
    fake.on("PATCH", SKU1, Reply(200, _resource("catalog-item", catalog_id("SKU-1"))))
    result = await make_connector().upsert(_item(categories=[], price=None))
    assert (result.ok, result.created, result.calls) == (True, False, 2)
    data = fake.sent("PATCH", SKU1)[0].json()["data"]
    assert data["id"] == catalog_id("SKU-1")
    assert data["attributes"]["price"] is None and data["attributes"]["images"] is None
    assert data["attributes"]["published"] is True
    assert data["relationships"] == {"categories": {"data": []}}
    assert [r.operation for r in records] == ["create_catalog_item", "update_catalog_item"]


async def test_category_upsert_renames_without_touching_memberships(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    path = f"{CATEGORIES}/$custom:::$default:::CAT-1"
    fake.on("POST", CATEGORIES, _exists())
    fake.on("PATCH", path, Reply(200, _resource("catalog-category", catalog_id("CAT-1"))))
    result = await make_connector().upsert(_category())
    assert (result.ok, result.created) == (True, False)
    assert fake.sent("PATCH", path)[0].json()["data"] == {
        "type": "catalog-category",
        "id": catalog_id("CAT-1"),
        "attributes": {"name": "Cat 1"},
    }
    assert "relationships" not in fake.sent("POST", CATEGORIES)[0].json()["data"]


async def test_item_failures_map_to_their_recovery(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    connector = make_connector(max_retries=0)
    fake.on(
        "POST",
        ITEMS,
        Reply(400, error_body(400, "invalid", "bad", source={"pointer": "/data/attributes/price"})),
    )
    bad = await connector.upsert(_item())
    assert isinstance(bad.error, RecordValidationError) and bad.error.field == "price"
    assert (bad.error.entity, bad.error.record_key) == ("catalog_item", "SKU-1")
    fake.on("POST", ITEMS, Reply(404, error_body(404, "not_found", "no category")))
    missing = await connector.upsert(_item())
    assert type(missing.error) is TransientError and "category" in missing.error.message
    fake.on("POST", ITEMS, Reply(500, error_body(500, "error", "boom")))
    down = await connector.upsert(_item())
    assert type(down.error) is TransientError and down.error.entity == "catalog_item"
    missing_field = await connector.upsert(
        Projection("catalog_item", "x", {"external_id": "x", "title": "t"})
    )
    assert (
        isinstance(missing_field.error, RecordValidationError) and missing_field.error.field == "description"
    )


async def test_delete_counts_404_as_done(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    connector = make_connector(max_retries=0)
    fake.on("DELETE", SKU1, Reply(204), Reply(404, error_body(404, "not_found", "gone")), Reply(503))
    assert (await connector.delete(_item())).ok
    again = await connector.delete(_item())
    assert again.ok and again.error is None
    assert isinstance((await connector.delete(_item())).error, TransientError)
    refused = await connector.delete(Projection("customer", "c-1", {}))
    assert isinstance(refused.error, PermanentError) and refused.calls == 0
    assert [r.ok for r in await connector.bulk_delete([Projection("event", "o-1", {})])] == [False]
    assert len(fake.requests) == 3


def test_update_resource_sends_every_item_attribute() -> None:
    attributes = update_resource(_item(images=["a"], published=False))["attributes"]
    assert set(attributes) == {
        "title",
        "description",
        "url",
        "price",
        "image_full_url",
        "image_thumbnail_url",
        "images",
        "custom_metadata",
        "published",
    }
    assert attributes["published"] is False and attributes["images"] == ["a"]


# -- bulk jobs -----------------------------------------------------------------------------------------


async def test_bulk_create_maps_job_errors_and_updates_existing_items(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    items = [_item(n) for n in range(5)]
    fake.on("POST", CREATE_JOBS, Reply(202, {"data": {"type": "catalog-item-bulk-create-job", "id": "C1"}}))
    errors = [
        _job_error(1, "conflict", "external_id"),
        _job_error(2, "invalid"),
        _job_error(3, "not_found", None),
    ]
    fake.on("GET", f"{CREATE_JOBS}/C1", _job("catalog-item-bulk-create-job", "C1", "processing"),
            _job("catalog-item-bulk-create-job", "C1", errors=errors))  # fmt: skip
    fake.on("POST", UPDATE_JOBS, Reply(202, {"data": {"type": "catalog-item-bulk-update-job", "id": "U1"}}))
    fake.on("GET", f"{UPDATE_JOBS}/U1", _job("catalog-item-bulk-update-job", "U1"))
    results = await make_connector().bulk_upsert(items)
    assert [(r.ok, r.created) for r in results] == [
        (True, True),
        (True, False),
        (False, None),
        (False, None),
        (True, True),
    ]
    assert isinstance(results[2].error, RecordValidationError) and results[2].error.field == "title"
    assert type(results[3].error) is TransientError
    [update] = fake.sent("POST", UPDATE_JOBS)
    assert [m["id"] for m in _members(update)] == [catalog_id("SKU-1")]
    assert "relationships" in _members(update)[0]
    assert sum(r.calls for r in results) == 2


async def test_a_member_refused_at_submission_is_dropped_and_the_job_resubmitted(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    pointer = "/data/attributes/items/data/1/attributes/url"
    fake.on(
        "POST",
        CREATE_JOBS,
        Reply(400, error_body(400, "invalid", "bad url", source={"pointer": pointer})),
        Reply(202, {"data": {"type": "catalog-item-bulk-create-job", "id": "C1"}}),
    )
    fake.on("GET", f"{CREATE_JOBS}/C1", _job("catalog-item-bulk-create-job", "C1"))
    results = await make_connector().bulk_upsert([_item(n) for n in range(3)])
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, RecordValidationError) and results[1].error.field == "url"
    assert [m["attributes"]["external_id"] for m in _members(fake.sent("POST", CREATE_JOBS)[1])] == [
        "SKU-0",
        "SKU-2",
    ]


@pytest.mark.parametrize(
    ("poll", "expected"),
    [
        (_job("catalog-item-bulk-create-job", "C1", "cancelled"), TransientError),
        (Reply(404, error_body(404, "not_found", "no such job")), TransientError),
        (Reply(401, error_body(401, "not_authenticated", "key revoked")), CredentialsError),
    ],
)
async def test_job_level_failures(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], poll: Reply, expected: type
) -> None:
    fake.on("POST", CREATE_JOBS, Reply(202, {"data": {"type": "catalog-item-bulk-create-job", "id": "C1"}}))
    fake.on("GET", f"{CREATE_JOBS}/C1", poll)
    results = await make_connector().bulk_upsert([_item(1), _item(2)])
    assert all(not r.ok and isinstance(r.error, expected) for r in results)
    if expected is TransientError:
        assert all(type(r.error) is TransientError for r in results)


async def test_bulk_categories_go_first_and_delete_jobs_treat_not_found_as_done(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    cat_jobs = "/api/catalog-category-bulk-create-jobs"
    fake.on("POST", cat_jobs, Reply(202, {"data": {"type": "catalog-category-bulk-create-job", "id": "K1"}}))
    fake.on("GET", f"{cat_jobs}/K1", _job("catalog-category-bulk-create-job", "K1"))
    fake.on("POST", CREATE_JOBS, Reply(202, {"data": {"type": "catalog-item-bulk-create-job", "id": "C1"}}))
    fake.on("GET", f"{CREATE_JOBS}/C1", _job("catalog-item-bulk-create-job", "C1"))
    connector = make_connector()
    results = await connector.bulk_upsert([_item(1), _category(1)])
    assert all(r.ok and r.created for r in results)
    posts = [r.path for r in fake.requests if r.method == "POST"]
    assert posts == [cat_jobs, CREATE_JOBS]

    fake.on("POST", DELETE_JOBS, Reply(202, {"data": {"type": "catalog-item-bulk-delete-job", "id": "D1"}}))
    fake.on(
        "GET",
        f"{DELETE_JOBS}/D1",
        _job(
            "catalog-item-bulk-delete-job",
            "D1",
            errors=[_job_error(0, "not_found", None), _job_error(1, "invalid", None)],
        ),
    )
    deleted = await connector.bulk_delete([_item(1), _item(2), _item(3)])
    assert [r.ok for r in deleted] == [True, False, True]
    assert type(deleted[1].error) is PermanentError
    assert _members(fake.sent("POST", DELETE_JOBS)[0]) == [
        {"type": "catalog-item", "id": catalog_id(f"SKU-{n}")} for n in (1, 2, 3)
    ]
