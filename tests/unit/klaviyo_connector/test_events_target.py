"""Event delivery against scripted responses: create_event and bulk_create_events, every failure branch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector, event_bulk
from crmsync.errors import PermanentError, RateLimitedError, RecordValidationError, TransientError
from crmsync.ports import Projection, RequestRecord
from tests.unit.klaviyo_connector.fake_klaviyo import Captured, FakeKlaviyo, Reply, error_body

EVENTS = "/api/events"
BULK = "/api/event-bulk-create-jobs"
ROOT = "/data/attributes/events-bulk-create/data"


def _event(n: int, profile: str | None = None, **payload: Any) -> Projection:
    body: dict[str, Any] = {
        "metric": "Placed Order",
        "time": "2026-11-23T10:00:00Z",
        "unique_id": f"o-{n}",
        "value": 10.0 + n,
        "value_currency": "EUR",
        "properties": {"n": n},
        "profile": {"external_id": profile or f"c-{n}"},
        **payload,
    }
    return Projection("event", f"o-{n}", body, correlation_id=f"corr-{n}")


def _invalid(pointer: str, detail: str = "bad") -> Reply:
    return Reply(400, error_body(400, "invalid", detail, source={"pointer": pointer}))


def _unique_ids(captured: Captured) -> list[str]:
    entries = captured.json()["data"]["attributes"]["events-bulk-create"]["data"]
    return [e["attributes"]["unique_id"] for entry in entries for e in entry["attributes"]["events"]["data"]]


# -- create_event ------------------------------------------------------------------------------------


async def test_single_event_is_accepted_and_recorded_with_its_record(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], records: list[RequestRecord]
) -> None:
    fake.on("POST", EVENTS, Reply(202))
    result = await make_connector().upsert(_event(1))
    assert (result.ok, result.created, result.target_id, result.calls) == (True, True, None, 1)
    body = fake.sent("POST", EVENTS)[0].json()["data"]
    assert body["attributes"]["unique_id"] == "o-1"
    assert body["attributes"]["profile"]["data"]["attributes"] == {"external_id": "c-1"}
    [record] = records
    assert (record.operation, record.kind, record.record_key, record.correlation_id) == (
        "create_event",
        "event",
        "o-1",
        "corr-1",
    )


@pytest.mark.parametrize(
    ("pointer", "field"),
    [
        ("/data/attributes/time", "time"),
        ("/data/attributes/profile/data/attributes/phone_number", "profile.phone_number"),
        ("/data/attributes/metric/data/attributes/name", "metric.name"),
    ],
)
async def test_single_event_refused_names_the_field(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], pointer: str, field: str
) -> None:
    fake.on("POST", EVENTS, _invalid(pointer))
    result = await make_connector().upsert(_event(1))
    error = result.error
    assert isinstance(error, RecordValidationError) and error.field == field
    assert (error.entity, error.record_key, error.status, result.calls) == ("event", "o-1", 400, 1)


async def test_single_event_transient_failures_are_retried_then_returned(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", EVENTS, Reply(503, error_body(503, "error", "down")), Reply(202))
    assert (await make_connector().upsert(_event(1))).ok
    fake.on("POST", EVENTS, Reply(503, error_body(503, "error", "down")))
    result = await make_connector(max_retries=2).upsert(_event(2))
    assert isinstance(result.error, TransientError) and result.error.entity == "event"
    assert result.calls == 3


async def test_event_without_profile_is_refused_locally(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    result = await make_connector().upsert(Projection("event", "o-1", {**_event(1).payload, "profile": {}}))
    assert isinstance(result.error, RecordValidationError) and result.error.field == "profile"
    assert result.calls == 0 and fake.requests == []


# -- bulk_create_events ------------------------------------------------------------------------------


async def test_bulk_accepted_marks_every_event_ok_and_charges_the_request_once(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], records: list[RequestRecord]
) -> None:
    fake.on("POST", BULK, Reply(202))
    items = [_event(n, profile=f"c-{n % 3}") for n in range(10)]
    items.append(_event(4, profile="c-1"))  # a duplicate of item 4
    results = await make_connector().bulk_upsert(items)
    assert all(r.ok and r.created for r in results)
    assert sum(r.calls for r in results) == 1 and results[-1].calls == 0
    [sent] = fake.sent("POST", BULK)
    assert sorted(_unique_ids(sent)) == sorted(f"o-{n}" for n in range(10))
    assert len(sent.json()["data"]["attributes"]["events-bulk-create"]["data"]) == 3  # one entry per profile
    assert [(r.operation, r.kind, r.record_key) for r in records] == [("bulk_create_events", "event", None)]


async def test_a_bad_event_fails_alone_and_the_rest_is_sent_again(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    items = [_event(n, profile="c-1") for n in range(5)]
    fake.on("POST", BULK, _invalid(f"{ROOT}/0/attributes/events/data/2/attributes/value"), Reply(202))
    results = await make_connector().bulk_upsert(items)
    assert [r.ok for r in results] == [True, True, False, True, True]
    error = results[2].error
    assert isinstance(error, RecordValidationError) and error.field == "value"
    assert (error.record_key, error.entity) == ("o-2", "event")
    first, second = fake.sent("POST", BULK)
    assert "o-2" in _unique_ids(first) and "o-2" not in _unique_ids(second)
    assert sorted(_unique_ids(second)) == ["o-0", "o-1", "o-3", "o-4"]
    assert sum(r.calls for r in results) == 2


async def test_a_bad_profile_fails_that_profiles_events_only(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    items = [_event(0, profile="a"), _event(1, profile="b"), _event(2, profile="b"), _event(3, profile="c")]
    fake.on("POST", BULK, _invalid(f"{ROOT}/1/attributes/profile/data/attributes/email"), Reply(202))
    results = await make_connector().bulk_upsert(items)
    assert [r.ok for r in results] == [True, False, False, True]
    assert all(getattr(results[i].error, "field", None) == "profile.email" for i in (1, 2))


async def test_unplaceable_400_and_other_failures_fail_the_whole_request(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", BULK, Reply(400, error_body(400, "invalid", "too many events")))
    results = await make_connector().bulk_upsert([_event(1), _event(2)])
    assert all(isinstance(r.error, PermanentError) for r in results)
    fake.on("POST", BULK, Reply(503, error_body(503, "error", "down")))
    results = await make_connector(max_retries=1).bulk_upsert([_event(1), _event(2)])
    assert all(type(r.error) is TransientError and r.error.entity == "event" for r in results)
    fake.on("POST", BULK, Reply(429, error_body(429, "throttled", "slow down"), headers={"Retry-After": "0"}))
    results = await make_connector(max_retries=0).bulk_upsert([_event(1)])
    assert isinstance(results[0].error, RateLimitedError)


async def test_many_bad_events_fall_back_to_single_events(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_bulk, "MAX_RESUBMITS", 1)
    items = [_event(n, profile="c-1") for n in range(4)]
    fake.on("POST", BULK, _invalid(f"{ROOT}/0/attributes/events/data/0/attributes/time"))

    def single(captured: Captured) -> Reply:
        if captured.json()["data"]["attributes"]["unique_id"] == "o-3":
            return _invalid("/data/attributes/time")
        return Reply(202)

    fake.on("POST", EVENTS, single)
    results = await make_connector().bulk_upsert(items)
    assert [r.ok for r in results] == [False, False, True, False]
    assert len(fake.sent("POST", BULK)) == 2 and len(fake.sent("POST", EVENTS)) == 2
    assert all(getattr(r.error, "field", None) == "time" for r in results if not r.ok)


async def test_progress_reaches_the_total(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", BULK, Reply(202))
    seen: list[tuple[int, int]] = []
    items = [_event(n) for n in range(1_500)]
    await make_connector().bulk_upsert(items, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (1_500, 1_500) and len(fake.sent("POST", BULK)) == 2
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
