"""Dispatch by ``item.kind``: capabilities, mixed batches, progress over all kinds, refusals."""

from __future__ import annotations

from collections.abc import Callable

from crmsync.connectors.klaviyo import CAPABILITIES, PROJECTION_KINDS, KlaviyoConnector
from crmsync.errors import PermanentError
from crmsync.ports import Projection
from tests.unit.klaviyo_connector.fake_klaviyo import FakeKlaviyo, Reply

PROFILE_JOBS = "/api/profile-bulk-import-jobs"
EVENT_JOBS = "/api/event-bulk-create-jobs"
ITEM_JOBS = "/api/catalog-item-bulk-create-jobs"


def _done(job_type: str, job_id: str) -> Reply:
    attributes = {
        "status": "complete",
        "total_count": 1,
        "completed_count": 1,
        "failed_count": 0,
        "errors": [],
    }
    return Reply(200, {"data": {"type": job_type, "id": job_id, "attributes": attributes}})


def test_capabilities_name_the_engine_entities_and_delete() -> None:
    assert CAPABILITIES.entities == frozenset({"customer", "order", "category", "product"})
    assert CAPABILITIES.delete and CAPABILITIES.upsert and CAPABILITIES.bulk_upsert and CAPABILITIES.find
    assert PROJECTION_KINDS == frozenset({"customer", "event", "catalog_category", "catalog_item"})


async def test_mixed_batch_goes_to_each_kinds_endpoint_in_order(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", PROFILE_JOBS, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "P1"}}))
    fake.on("GET", f"{PROFILE_JOBS}/P1", _done("profile-bulk-import-job", "P1"))
    fake.on("GET", f"{PROFILE_JOBS}/P1/import-errors", Reply(200, {"data": []}))
    fake.on("POST", EVENT_JOBS, Reply(202))
    fake.on("POST", ITEM_JOBS, Reply(202, {"data": {"type": "catalog-item-bulk-create-job", "id": "C1"}}))
    fake.on("GET", f"{ITEM_JOBS}/C1", _done("catalog-item-bulk-create-job", "C1"))
    items = [
        Projection("customer", "c-1", {"external_id": "c-1"}),
        Projection(
            "event", "o-1", {"metric": "Placed Order", "unique_id": "o-1", "profile": {"external_id": "c-1"}}
        ),
        Projection("order", "o-2", {}),
        Projection("catalog_item", "S1", {"external_id": "S1", "title": "t", "description": "d", "url": "u"}),
        Projection("customer", "c-2", {"external_id": "c-2"}),
    ]
    seen: list[tuple[int, int]] = []
    results = await make_connector().bulk_upsert(items, progress=lambda d, t: seen.append((d, t)))
    assert [r.record_key for r in results] == ["c-1", "o-1", "o-2", "S1", "c-2"]
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert isinstance(results[2].error, PermanentError) and "'order'" in results[2].error.message
    assert len(fake.sent("POST", PROFILE_JOBS)[0].json()["data"]["attributes"]["profiles"]["data"]) == 2
    assert seen[-1] == (5, 5) and all(t == 5 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


async def test_single_records_dispatch_by_kind(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", "/api/events", Reply(202))
    fake.on("POST", "/api/catalog-categories", Reply(201, {"data": {"type": "catalog-category", "id": "x"}}))
    connector = make_connector()
    event = Projection("event", "o-1", {"metric": "M", "profile": {"email": "a@example.com"}})
    category = Projection("catalog_category", "K", {"external_id": "K", "name": "Kids"})
    assert (await connector.upsert(event)).ok and (await connector.upsert(category)).ok
    assert [r.path for r in fake.requests] == ["/api/events", "/api/catalog-categories"]
    assert not (await connector.upsert(Projection("product", "p", {}))).ok
    assert len(fake.requests) == 2
