"""bulk_upsert against a scripted job lifecycle: polling, progress, error pages, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector
from crmsync.connectors.klaviyo.packing import MAX_PROFILE_BYTES
from crmsync.errors import PermanentError, RecordValidationError, TransientError
from crmsync.ports import Projection
from tests.unit.klaviyo_connector.fake_klaviyo import Captured, FakeKlaviyo, Reply, error_body

JOBS = "/api/profile-bulk-import-jobs"


def _items(count: int) -> list[Projection]:
    return [
        Projection(
            kind="customer",
            record_key=f"c-{n}",
            payload={"external_id": f"c-{n}", "email": f"C{n}@Example.com", "first_name": f"N{n}"},
        )
        for n in range(count)
    ]


def _job(job_id: str, status: str, total: int, completed: int, failed: int) -> Reply:
    attributes = {
        "status": status,
        "created_at": "2026-08-01T00:00:00+00:00",
        "total_count": total,
        "completed_count": completed,
        "failed_count": failed,
    }
    return Reply(200, {"data": {"type": "profile-bulk-import-job", "id": job_id, "attributes": attributes}})


def _import_error(original: dict[str, Any], pointer: str, detail: str) -> dict[str, Any]:
    return {
        "type": "import-error",
        "id": f"ie-{detail}",
        "attributes": {
            "code": "invalid",
            "title": "Invalid input",
            "detail": detail,
            "source": {"pointer": pointer},
            "original_payload": original,
        },
    }


async def test_job_is_polled_and_import_errors_are_mapped_to_items(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    items = _items(5)
    fake.on("POST", JOBS, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "J1"}}))
    fake.on(
        "GET",
        f"{JOBS}/J1",
        _job("J1", "queued", 5, 0, 0),
        _job("J1", "processing", 5, 2, 0),
        _job("J1", "complete", 5, 3, 2),
    )

    def errors_page(c: Captured) -> Reply:
        if "page[cursor]" not in c.query:
            # the first error is matched by external_id, in the resource-object form
            first = _import_error(
                {"type": "profile", "attributes": {"external_id": "c-1"}},
                "/data/attributes/phone_number",
                "bad phone",
            )
            # a next link on a foreign host: only its cursor may be used
            links = {"next": "https://evil.example/api/x?page%5Bcursor%5D=abc"}
            return Reply(200, {"data": [first], "links": links})
        assert c.query["page[cursor]"] == "abc"
        # the second is matched by e-mail, case-insensitively, in the attributes form
        second = _import_error({"email": "c3@example.com"}, "/data/attributes/email", "bad email")
        return Reply(200, {"data": [second], "links": {"next": None}})

    fake.on("GET", f"{JOBS}/J1/import-errors", errors_page)
    progress: list[tuple[int, int]] = []
    connector = make_connector()
    results = await connector.bulk_upsert(items, progress=lambda d, t: progress.append((d, t)))

    assert [r.record_key for r in results] == [i.record_key for i in items]
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert isinstance(results[1].error, RecordValidationError) and results[1].error.field == "phone_number"
    assert "bad phone" in results[1].error.message and results[1].error.record_key == "c-1"
    assert isinstance(results[3].error, RecordValidationError) and results[3].error.field == "email"
    assert all(r.target_id is None for r in results)
    assert sum(r.calls for r in results) == 1  # one job creation request
    assert progress[0] == (0, 5) and (2, 5) in progress and progress[-1] == (5, 5)
    assert all(c.path.startswith("/api/") for c in fake.requests)  # never followed the foreign host
    assert fake.sent("GET", f"{JOBS}/J1/import-errors")[0].query["page[size]"] == "100"


async def test_async_progress_callbacks_are_awaited(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", JOBS, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "J1"}}))
    fake.on("GET", f"{JOBS}/J1", _job("J1", "complete", 2, 2, 0))
    fake.on("GET", f"{JOBS}/J1/import-errors", Reply(200, {"data": [], "links": {}}))
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    results = await make_connector().bulk_upsert(_items(2), progress=progress)
    assert all(r.ok for r in results) and seen[-1] == (2, 2)


async def test_cancelled_job_fails_its_items_as_transient(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", JOBS, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "J1"}}))
    fake.on("GET", f"{JOBS}/J1", _job("J1", "cancelled", 3, 0, 0))
    results = await make_connector().bulk_upsert(_items(3))
    assert [r.ok for r in results] == [False] * 3
    assert all(isinstance(r.error, TransientError) and "cancelled" in r.error.message for r in results)
    assert fake.sent("GET", f"{JOBS}/J1/import-errors") == []


async def test_job_that_never_finishes_times_out(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", JOBS, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "J1"}}))
    fake.on("GET", f"{JOBS}/J1", _job("J1", "processing", 2, 0, 0))
    results = await make_connector(bulk_timeout_seconds=0.05).bulk_upsert(_items(2))
    assert all(isinstance(r.error, TransientError) and "did not finish" in r.error.message for r in results)


async def test_job_creation_refused_for_one_profile_is_resubmitted_without_it(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    refused = Reply(
        400,
        error_body(
            400,
            "invalid",
            "Invalid email",
            source={"pointer": "/data/attributes/profiles/data/1/attributes/email"},
        ),
    )
    fake.on("POST", JOBS, refused, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "J1"}}))
    fake.on("GET", f"{JOBS}/J1", _job("J1", "complete", 2, 2, 0))
    fake.on("GET", f"{JOBS}/J1/import-errors", Reply(200, {"data": []}))
    results = await make_connector().bulk_upsert(_items(3))
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, RecordValidationError) and results[1].error.field == "email"
    assert results[1].error.record_key == "c-1"
    second_body = fake.sent("POST", JOBS)[1].json()
    sent_ids = [p["attributes"]["external_id"] for p in second_body["data"]["attributes"]["profiles"]["data"]]
    assert sent_ids == ["c-0", "c-2"]
    assert sum(r.calls for r in results) == 2


async def test_job_creation_refused_as_a_whole_fails_every_item(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", JOBS, Reply(403, error_body(403, "permission_denied", "missing scope profiles:write")))
    results = await make_connector().bulk_upsert(_items(2))
    assert all(isinstance(r.error, PermanentError) and "profiles:write" in r.error.message for r in results)


async def test_oversized_and_foreign_items_fail_locally_the_rest_is_imported(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    items = _items(2)
    items.append(Projection("customer", "huge", {"external_id": "huge", "title": "x" * MAX_PROFILE_BYTES}))
    items.append(Projection("order", "o-1", {}))
    fake.on("POST", JOBS, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "J1"}}))
    fake.on("GET", f"{JOBS}/J1", _job("J1", "complete", 2, 2, 0))
    fake.on("GET", f"{JOBS}/J1/import-errors", Reply(200, {"data": []}))
    results = await make_connector().bulk_upsert(items)
    assert [r.ok for r in results] == [True, True, False, False]
    assert isinstance(results[2].error, RecordValidationError)
    assert isinstance(results[3].error, PermanentError)
    assert b"huge" not in fake.sent("POST", JOBS)[0].body


async def test_empty_batch_sends_nothing(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    assert await make_connector().bulk_upsert([]) == []
    assert fake.requests == []


async def test_failing_status_reads_do_not_dead_letter_accepted_profiles(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    """A 404 on the job after it was accepted says nothing about the profiles: retry them later."""
    fake.on("POST", JOBS, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "J1"}}))
    fake.on("GET", f"{JOBS}/J1", Reply(404, error_body(404, "not_found", "no such job")))
    results = await make_connector().bulk_upsert(_items(2))
    assert all(type(r.error) is TransientError and "outcome unknown" in r.error.message for r in results)


async def test_a_failing_progress_callback_stops_every_job(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    """Two jobs run at once (~60 KB profiles: 83 fit in 5 MB); one raising must cancel the other."""
    items = [
        Projection("customer", f"c-{n}", {"external_id": f"c-{n}", "title": "x" * 60_000}) for n in range(100)
    ]
    job = {"type": "profile-bulk-import-job"}
    fake.on(
        "POST", JOBS, Reply(202, {"data": {**job, "id": "J1"}}), Reply(202, {"data": {**job, "id": "J2"}})
    )
    fake.on("GET", f"{JOBS}/J1", _job("J1", "processing", 83, 1, 0))
    fake.on("GET", f"{JOBS}/J2", _job("J2", "processing", 17, 0, 0))
    calls = 0

    def progress(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("progress sink is down")

    connector = make_connector(bulk_poll_interval_seconds=0.005)
    with pytest.raises(RuntimeError, match="sink is down"):
        await connector.bulk_upsert(items, progress=progress)
    assert len(fake.sent("POST", JOBS)) == 2
    polls = len(fake.sent("GET"))
    await asyncio.sleep(0.1)
    assert len(fake.sent("GET")) == polls  # nothing keeps polling in the background
