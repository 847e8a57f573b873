"""The HTTP client: headers, retries (Retry-After, backoff), no retry of permanent errors, records."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector
from crmsync.connectors.klaviyo.client import CallStats, mask_query
from crmsync.errors import CredentialsError, PermanentError, RecordValidationError, TransientError
from crmsync.ports import RequestRecord
from tests.unit.klaviyo_connector.conftest import API_KEY, RecordedSleep
from tests.unit.klaviyo_connector.fake_klaviyo import Captured, FakeKlaviyo, Reply, error_body

OK = Reply(200, {"data": []})


async def test_every_request_carries_auth_revision_and_jsonapi_headers(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", "/api/profile-import", Reply(201, {"data": {"type": "profile", "id": "P1"}}))
    connector = make_connector()
    await connector.client.request(
        "POST", "/api/profile-import", body={"data": {}}, operation="create_or_update_profile"
    )
    headers = fake.requests[0].headers
    assert headers["Authorization"] == f"Klaviyo-API-Key {API_KEY}"
    assert headers["revision"] == "2026-07-15"
    assert headers["Accept"] == "application/vnd.api+json"
    assert headers["Content-Type"] == "application/vnd.api+json"
    assert fake.requests[0].json() == {"data": {}}


async def test_session_is_reused_across_requests(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", "/api/profiles", OK)
    connector = make_connector()
    await connector.client.request("GET", "/api/profiles", operation="get_profiles")
    session = connector.client._session
    await connector.client.request("GET", "/api/profiles", operation="get_profiles")
    assert session is not None and connector.client._session is session


async def test_transient_errors_back_off_then_succeed(
    fake: FakeKlaviyo,
    make_connector: Callable[..., KlaviyoConnector],
    sleeps: RecordedSleep,
    records: list[RequestRecord],
) -> None:
    fake.on("GET", "/api/profiles", Reply(503, error_body(503, "error", "busy")), Reply(502), OK)
    connector = make_connector()
    stats = CallStats()
    response = await connector.client.request("GET", "/api/profiles", operation="get_profiles", stats=stats)
    assert response.status == 200 and response.attempts == 3 and stats.attempts == 3
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.5 and 0 <= sleeps.delays[1] <= 1.0  # full jitter ceilings
    assert [(r.attempt, r.status) for r in records] == [(1, 503), (2, 502), (3, 200)]
    assert records[0].error is not None and records[0].error.startswith("TransientError")
    assert all(r.operation == "get_profiles" and r.connection == "kl" for r in records)


async def test_429_waits_exactly_retry_after_plus_jitter(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], sleeps: RecordedSleep
) -> None:
    throttled = Reply(429, error_body(429, "throttled", "slow down"), headers={"Retry-After": "3"})
    fake.on("GET", "/api/profiles", throttled, OK)
    connector = make_connector()
    response = await connector.client.request("GET", "/api/profiles", operation="get_profiles")
    assert response.status == 200
    assert len(sleeps.delays) == 1
    assert 2.95 <= sleeps.delays[0] <= 3.0 + connector.client.policy.retry_after_jitter


async def test_429_holds_back_concurrent_requests_of_the_connection(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], records: list[RequestRecord]
) -> None:
    """The quota is per account: after a 429 the connection's other requests wait for the window."""
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []

    def handler(_: Captured) -> Reply:
        arrivals.append(loop.time())
        if len(arrivals) == 1:
            return Reply(429, error_body(429, "throttled", "x"), headers={"Retry-After": "0.3"})
        return OK

    fake.on("GET", "/api/profiles", handler)
    connector = make_connector()
    connector.client._sleep = asyncio.sleep  # real waiting: the gate is time-based
    throttled = asyncio.Event()

    def observe(record: RequestRecord) -> None:
        records.append(record)
        throttled.set()

    connector.client._observer = observe
    first = asyncio.create_task(connector.client.request("GET", "/api/profiles", operation="get_profiles"))
    await throttled.wait()
    await connector.client.request("GET", "/api/profiles", operation="get_profiles")
    await first
    assert len(arrivals) == 3
    assert min(arrivals[1:]) - arrivals[0] >= 0.29


async def test_gives_up_after_max_retries_with_the_last_error(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], sleeps: RecordedSleep
) -> None:
    fake.on("GET", "/api/profiles", Reply(500, error_body(500, "error", "boom")))
    connector = make_connector(max_retries=2)
    with pytest.raises(TransientError, match="boom"):
        await connector.client.request("GET", "/api/profiles", operation="get_profiles")
    assert len(fake.requests) == 3 and len(sleeps.delays) == 2


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            Reply(400, error_body(400, "invalid", "bad", source={"pointer": "/data/attributes/email"})),
            RecordValidationError,
        ),
        (
            Reply(400, error_body(400, "invalid", "bad filter", source={"parameter": "filter"})),
            PermanentError,
        ),
        (Reply(401, error_body(401, "not_authenticated", "no")), CredentialsError),
        (Reply(403, error_body(403, "permission_denied", "no")), PermanentError),
        (Reply(415, error_body(415, "unsupported_media_type", "no")), PermanentError),
    ],
)
async def test_permanent_errors_are_never_retried(
    fake: FakeKlaviyo,
    make_connector: Callable[..., KlaviyoConnector],
    sleeps: RecordedSleep,
    reply: Reply,
    error: type[Exception],
) -> None:
    fake.on("GET", "/api/profiles", reply)
    connector = make_connector()
    with pytest.raises(error):
        await connector.client.request("GET", "/api/profiles", operation="get_profiles")
    assert len(fake.requests) == 1 and sleeps.delays == []


async def test_timeouts_are_transient_and_retried(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], records: list[RequestRecord]
) -> None:
    fake.on("GET", "/api/profiles", Reply(200, {"data": []}, delay=0.2))
    connector = make_connector(timeout_seconds=0.05, max_retries=1)
    with pytest.raises(TransientError, match="timed out"):
        await connector.client.request("GET", "/api/profiles", operation="get_profiles")
    assert [(r.attempt, r.status) for r in records] == [(1, None), (2, None)]


async def test_connection_refused_is_transient(make_connector: Callable[..., KlaviyoConnector]) -> None:
    connector = make_connector(base_url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(TransientError):
        await connector.client.request("GET", "/api/profiles", operation="get_profiles")


async def test_2xx_with_a_non_json_body_is_transient(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", "/api/profiles", Reply(200, b"<html>proxy</html>"))
    connector = make_connector(max_retries=0)
    with pytest.raises(TransientError, match="not a JSON object"):
        await connector.client.request("GET", "/api/profiles", operation="get_profiles")


async def test_concurrency_is_capped_by_max_concurrency(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    in_flight = 0
    peak = 0

    async def slow(_: Captured) -> Reply:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return OK

    fake.on("GET", "/api/profiles", slow)
    connector = make_connector(max_concurrency=3)
    await asyncio.gather(
        *(connector.client.request("GET", "/api/profiles", operation="get_profiles") for _ in range(12))
    )
    assert peak == 3


async def test_observer_failures_do_not_fail_requests(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", "/api/profiles", OK)
    connector = make_connector()

    def broken(_: RequestRecord) -> None:
        raise RuntimeError("observer bug")

    connector.client._observer = broken
    response = await connector.client.request("GET", "/api/profiles", operation="get_profiles")
    assert response.status == 200


def test_mask_query_hides_filter_values() -> None:
    from yarl import URL

    url = URL("https://a.klaviyo.com/api/profiles").with_query(
        {"filter": 'equals(email,"a\\"b@x.com")', "page[size]": "1"}
    )
    masked = mask_query(url)
    assert "x.com" not in masked and "%22***%22" in masked and "page%5Bsize%5D=1" in masked
