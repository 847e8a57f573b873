"""Events through the connector into the Klaviyo emulator: single, replay, bulk, duplicates, bad events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmsync.connectors.klaviyo import KlaviyoConnector
from crmsync.connectors.klaviyo.limits import OPERATION_LIMITS
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.errors import RecordValidationError
from crmsync.ports import Projection, RequestRecord


def _event(n: int, customer: int | None = None, **payload: Any) -> Projection:
    who = n if customer is None else customer
    body: dict[str, Any] = {
        "metric": "Placed Order",
        "time": "2026-01-15T10:00:00Z",
        "unique_id": f"order-{n}",
        "value": 100.0 + n,
        "value_currency": "EUR",
        "properties": {"OrderId": f"order-{n}", "ItemCount": n % 5},
        "profile": {"external_id": f"cust-{who}", "email": f"customer{who}@example.com"},
        **payload,
    }
    return Projection("event", str(body["unique_id"]), body, correlation_id=f"corr-{n}")


async def test_single_event_is_stored_and_a_replay_adds_nothing(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    records: list[RequestRecord] = []
    connector = connect(records.append)
    first = await connector.upsert(_event(1))
    replay = await connector.upsert(_event(1, value=999.0))
    assert (first.ok, first.created, replay.ok) == (True, True, True)
    [event] = emulator.find_events(metric="Placed Order", profile_external_id="cust-1", unique_id="order-1")
    assert event["value"] == 101.0 and event["value_currency"] == "EUR"
    assert event["properties"] == {"OrderId": "order-1", "ItemCount": 1}
    assert event["time"].isoformat() == "2026-01-15T10:00:00+00:00"
    [profile] = emulator.find_profiles(external_id="cust-1")
    assert profile["email"] == "customer1@example.com" and profile["id"] == event["profile_id"]
    assert len(emulator.events) == 1
    assert emulator.request_count(operation_id="create_event", status=202) == 2
    assert [(r.operation, r.kind, r.record_key, r.status) for r in records] == [
        ("create_event", "event", "order-1", 202)
    ] * 2


async def test_bulk_of_2500_events_across_profiles_arrives_exactly_once(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    records: list[RequestRecord] = []
    items = [_event(n, customer=n % 250) for n in range(2_500)]
    items += [_event(n, customer=n % 250) for n in range(0, 2_500, 50)]  # 50 repeats in the same batch
    progress: list[tuple[int, int]] = []
    results = await connect(records.append).bulk_upsert(items, progress=lambda d, t: progress.append((d, t)))

    assert all(r.ok and r.created for r in results)
    assert emulator.request_count(operation_id="bulk_create_events", status=202) == 3
    assert emulator.request_count(operation_id="bulk_create_events") == 3
    stored = emulator.events
    assert len(stored) == 2_500
    assert sorted(e["unique_id"] for e in stored) == sorted(f"order-{n}" for n in range(2_500))
    assert len(emulator.profiles) == 250
    for n in (0, 1_249, 2_499):
        [event] = emulator.find_events(unique_id=f"order-{n}", profile_external_id=f"cust-{n % 250}")
        assert event["value"] == 100.0 + n
    assert sum(r.calls for r in results) == 3 and all(r.calls == 0 for r in results[2_500:])
    assert progress[-1] == (2_550, 2_550)
    assert {(r.operation, r.kind, r.record_key) for r in records} == {("bulk_create_events", "event", None)}

    again = await connect().bulk_upsert(items[:1_000])  # a replay stores nothing new
    assert all(r.ok for r in again) and len(emulator.events) == 2_500


async def test_one_invalid_event_fails_alone_and_the_rest_arrive(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    items = [_event(n, customer=n % 10) for n in range(300)]
    items[123] = _event(123, customer=3, time="1985-06-01T00:00:00Z")  # Klaviyo accepts times after 1990
    results = await connect().bulk_upsert(items)

    failed = [n for n, r in enumerate(results) if not r.ok]
    assert failed == [123]
    error = results[123].error
    assert isinstance(error, RecordValidationError) and error.field == "time"
    assert (error.record_key, error.entity, error.recovery.value) == ("order-123", "event", "permanent")
    assert len(emulator.events) == 299 and not emulator.find_events(unique_id="order-123")
    assert emulator.request_count(operation_id="bulk_create_events", status=400) == 1
    assert emulator.request_count(operation_id="bulk_create_events", status=202) == 1


async def test_every_operation_called_has_a_published_limit(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    records: list[RequestRecord] = []
    connector = connect(records.append)
    await connector.upsert(_event(1))
    await connector.bulk_upsert([_event(2), _event(3)])
    assert {r.operation for r in records} == {"create_event", "bulk_create_events"}
    assert {r.operation for r in records} <= set(OPERATION_LIMITS)
