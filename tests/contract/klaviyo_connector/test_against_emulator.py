"""The connector against the Klaviyo emulator: upsert, linking, duplicates, validation, bulk, 429, find."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from crmsync.connectors.klaviyo import KlaviyoConnector
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.errors import RecordValidationError
from crmsync.ports import Projection, RequestRecord


def _item(n: int | str, **extra: Any) -> Projection:
    payload: dict[str, Any] = {
        "external_id": f"cust-{n}",
        "email": f"customer{n}@example.com",
        "first_name": f"First{n}",
        "last_name": "Example",
        **extra,
    }
    return Projection("customer", f"cust-{n}", payload, correlation_id=f"corr-{n}")


async def _create_profile(connector: KlaviyoConnector, **attributes: Any) -> str:
    response = await connector.client.request(
        "POST",
        "/api/profiles",
        body={"data": {"type": "profile", "attributes": attributes}},
        operation="create_profile",
    )
    assert response.status == 201 and response.body is not None
    return str(response.body["data"]["id"])


async def test_upsert_creates_then_updates(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    connector = connect()
    first = await connector.upsert(_item(1))
    second = await connector.upsert(_item(1, first_name="Changed"))
    assert (first.ok, first.created, first.calls) == (True, True, 1)
    assert (second.ok, second.created, second.target_id) == (True, False, first.target_id)
    [profile] = emulator.find_profiles(external_id="cust-1")
    assert profile["id"] == first.target_id and profile["first_name"] == "Changed"
    assert emulator.request_count(operation_id="create_or_update_profile", status=201) == 1
    assert emulator.request_count(operation_id="create_or_update_profile", status=200) == 1
    assert emulator.write_count() == 2


async def test_existing_profile_with_same_email_is_linked_not_duplicated(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    connector = connect()
    existing = await _create_profile(connector, email="customer7@example.com", first_name="Old")
    result = await connector.upsert(_item(7))
    assert (result.ok, result.created, result.target_id) == (True, False, existing)
    assert len(emulator.profiles) == 1
    assert emulator.profiles[existing]["external_id"] == "cust-7"
    assert emulator.request_count(operation_id="update_profile") == 0  # matched by profile-import itself


async def test_duplicate_profile_is_resolved_by_patching_the_existing_id(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    """Our e-mail belongs to one profile and our external_id to another: profile-import answers 409."""
    connector = connect()
    email_owner = await _create_profile(connector, email="customer3@example.com")
    id_owner = await _create_profile(connector, external_id="cust-3")
    result = await connector.upsert(_item(3))
    assert result.ok, result.error
    assert result.target_id == id_owner and result.created is False
    assert emulator.request_count(operation_id="create_or_update_profile", status=409) == 1
    assert emulator.request_count(operation_id="update_profile", status=200) == 1
    assert len(emulator.profiles) == 2  # nothing created
    linked = emulator.profiles[id_owner]
    assert linked["first_name"] == "First3" and linked["external_id"] == "cust-3"
    assert emulator.profiles[email_owner]["email"] == "customer3@example.com"  # not stolen


async def test_duplicate_on_a_single_profile_patches_it_in_one_go(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    connector = connect()
    phone_owner = await _create_profile(connector, phone_number="+4915112345678")
    email_owner = await _create_profile(connector, email="customer4@example.com")
    # identifiers owned by two profiles → 409 naming the second one
    result = await connector.upsert(_item(4, phone_number="+4915112345678"))
    assert result.ok, result.error
    assert result.target_id in {phone_owner, email_owner}
    assert len(emulator.profiles) == 2
    assert emulator.find_profiles(external_id="cust-4")[0]["id"] == result.target_id


async def test_invalid_phone_number_is_a_record_validation_error(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    result = await connect().upsert(_item(5, phone_number="12-34"))
    assert result.ok is False
    assert isinstance(result.error, RecordValidationError)
    assert result.error.field == "phone_number"
    assert "phone" in result.error.message.lower()
    assert len(emulator.profiles) == 0


async def test_find_by_external_id_then_email(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    connector = connect()
    created = await connector.upsert(_item(9))
    by_email_only = await _create_profile(connector, email="only.email@example.com")
    assert await connector.find("customer", {"external_id": "cust-9"}) == created.target_id
    assert await connector.find("customer", {"email": "customer9@example.com"}) == created.target_id
    assert (
        await connector.find("customer", {"external_id": "unknown", "email": "only.email@example.com"})
        == by_email_only
    )
    assert (
        await connector.find("customer", {"external_id": 'we"ird\\id', "email": "nobody@example.com"}) is None
    )
    profile = await connector.get_profile(by_email_only)
    assert profile is not None and profile["attributes"]["email"] == "only.email@example.com"
    assert await connector.get_profile("01JAFS0VVWGJFE7QE4EJQBA5AS") is None


async def test_bulk_import_of_25000_profiles_runs_three_jobs_and_maps_errors(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    items = [_item(n) for n in range(25_000)]
    bad_phone = {7, 12_345, 24_999}
    for n in bad_phone:
        items[n].payload["phone_number"] = "not-a-phone"
    items[20_001].payload["email"] = "broken-address"
    progress: list[tuple[int, int]] = []
    results = await connect().bulk_upsert(items, progress=lambda done, total: progress.append((done, total)))

    assert len(emulator.jobs) == 3
    assert sorted(j.total_count for j in emulator.jobs.values()) == [5_000, 10_000, 10_000]
    assert emulator.request_count(operation_id="bulk_import_profiles", status=202) == 3
    failed = {n for n, r in enumerate(results) if not r.ok}
    assert failed == {*bad_phone, 20_001}
    for n in bad_phone:
        error = results[n].error
        assert isinstance(error, RecordValidationError) and error.field == "phone_number"
        assert error.record_key == f"cust-{n}"
    email_error = results[20_001].error
    assert isinstance(email_error, RecordValidationError) and email_error.field == "email"
    assert len(emulator.profiles) == 25_000 - len(failed)
    for n in (0, 9_999, 10_000, 19_999, 24_998):
        assert emulator.find_profiles(external_id=f"cust-{n}")[0]["email"] == f"customer{n}@example.com"
    assert progress[-1] == (25_000, 25_000)
    assert sum(r.calls for r in results) == 3


async def test_rate_limited_upserts_honour_retry_after_and_succeed(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    """200 upserts inside two 1-second windows exceed the 75/s burst limit: 429s, then success."""
    emulator.set_rate_limits(True)
    records: list[RequestRecord] = []
    connector = connect(observer=records.append, max_concurrency=20)
    results = await asyncio.gather(*(connector.upsert(_item(n)) for n in range(200)))

    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    assert len(emulator.profiles) == 200
    assert emulator.request_count(operation_id="create_or_update_profile", status=429) > 0
    by_item: dict[str | None, list[RequestRecord]] = {}
    for record in records:
        by_item.setdefault(record.correlation_id, []).append(record)
    throttled = 0
    for attempts in by_item.values():
        attempts.sort(key=lambda r: r.attempt)
        for before, after in itertools.pairwise(attempts):
            assert before.status == 429
            throttled += 1
            answered = before.started_at + timedelta(milliseconds=before.latency_ms)
            # the emulator's Retry-After is at least 1 s; the retry waited for it
            assert after.started_at - answered >= timedelta(seconds=0.95)
    assert throttled == emulator.request_count(operation_id="create_or_update_profile", status=429)
