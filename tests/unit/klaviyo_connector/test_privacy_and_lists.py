"""KlaviyoPrivacy and KlaviyoLists against scripted responses: refusals, failures, caching."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector, KlaviyoLists, KlaviyoPrivacy
from crmsync.connectors.klaviyo import lists as lists_module
from crmsync.errors import PermanentError, RateLimitedError, RecordValidationError, TransientError
from crmsync.ports import RequestRecord
from tests.unit.klaviyo_connector.fake_klaviyo import FakeKlaviyo, Reply, error_body

DELETION = "/api/data-privacy-deletion-jobs"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"email": "a@example.com", "phone_number": "+15005550006"},
        {"profile_id": "P", "email": "a@example.com"},
    ],
)
async def test_deletion_needs_exactly_one_identifier(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], kwargs: dict[str, str]
) -> None:
    result = await KlaviyoPrivacy(make_connector().client).request_deletion(**kwargs)
    assert result.ok is False and result.calls == 0
    assert isinstance(result.error, RecordValidationError) and result.error.field == "identifier"
    assert fake.requests == []


async def test_deletion_failures_come_back_with_their_record_key(
    fake: FakeKlaviyo,
    make_connector: Callable[..., KlaviyoConnector],
    records: list[RequestRecord],
) -> None:
    fake.on("POST", DELETION, Reply(429, error_body(429, "throttled", "slow down"), {"Retry-After": "2"}))
    privacy = KlaviyoPrivacy(make_connector(max_retries=0).client, connection="kl")
    result = await privacy.request_deletion(email="a@example.com", record_key="cust-1", correlation_id="c-1")
    assert (result.ok, result.record_key, result.calls) == (False, "cust-1", 1)
    assert isinstance(result.error, RateLimitedError) and result.error.retry_after == 2.0
    assert result.error.record_key == "cust-1"
    assert [(r.record_key, r.correlation_id, r.kind) for r in records] == [("cust-1", "c-1", "erasure")]
    fake.on("POST", DELETION, Reply(503), Reply(202))
    result = await KlaviyoPrivacy(make_connector().client).request_deletion(phone_number="+15005550006")
    assert (result.ok, result.calls, result.target_id) == (True, 2, None)
    assert result.record_key.startswith("phone_number#")


async def test_ensure_list_creates_once_under_concurrency_and_checks_the_answer(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", "/api/lists", Reply(200, {"data": []}, delay=0.01))
    fake.on("POST", "/api/lists", Reply(201, {"data": {"type": "list", "id": "L1"}}))
    lists = KlaviyoLists(make_connector().client)
    assert set(await asyncio.gather(*(lists.ensure_list("N") for _ in range(4)))) == {"L1"}
    assert len(fake.sent("POST", "/api/lists")) == 1 and len(fake.sent("GET", "/api/lists")) == 1
    assert await lists.ensure_list("N") == "L1"  # cached: no request
    assert len(fake.requests) == 2
    with pytest.raises(PermanentError):
        await lists.ensure_list("  ")
    fake.on("POST", "/api/lists", Reply(201, {"data": {"type": "list"}}))
    with pytest.raises(PermanentError, match="without a list id"):
        await lists.ensure_list("Other")
    fake.on("GET", "/api/lists", Reply(200, {"data": [{"type": "list", "id": "OLD"}]}))
    assert await lists.ensure_list("Other") == "OLD"


async def test_add_to_list_failures_fail_their_chunk_only(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lists_module, "MAX_MEMBERS_PER_CALL", 2)
    fake.on(
        "POST", "/api/lists/L1/relationships/profiles", Reply(204), Reply(500, error_body(500, "error", "x"))
    )
    lists = KlaviyoLists(make_connector(max_retries=0).client)
    results = await lists.add_to_list("L1", ["A", "B", "C", "A"])
    assert [(r.record_key, r.ok, r.calls) for r in results] == [
        ("A", True, 1),
        ("B", True, 0),
        ("C", False, 1),
        ("A", True, 0),
    ]
    assert isinstance(results[2].error, TransientError) and results[0].target_id == "A"
    bodies = [c.json()["data"] for c in fake.sent("POST")]
    assert bodies == [
        [{"type": "profile", "id": "A"}, {"type": "profile", "id": "B"}],
        [{"type": "profile", "id": "C"}],
    ]
