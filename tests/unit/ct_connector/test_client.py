"""Token caching, refresh and single flight; retries, backoff, correlation ids and request reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crmsync.connectors.commercetools.client import CommercetoolsClient
from crmsync.connectors.commercetools.settings import CommercetoolsSettings
from crmsync.errors import CredentialsError, NotFoundError, PermanentError, RateLimitedError, TransientError
from crmsync.ports import RequestRecord

from .fake_server import CLIENT_ID, CLIENT_SECRET, PROJECT, FakeCommercetools, Scripted, serve

CUSTOMER = {"id": "c1", "version": 1, "email": "a@b.com"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, fake: FakeCommercetools, base_url: str, **overrides: Any) -> None:
        self.fake = fake
        self.sleeps: list[float] = []
        self.records: list[RequestRecord] = []
        self.clock = Clock()
        settings = {
            "project_key": PROJECT,
            "api_url": base_url,
            "auth_url": base_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "max_retries": 3,
            "backoff_base_seconds": 0.5,
            "backoff_max_seconds": 4.0,
            **overrides,
        }

        async def fake_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.client = CommercetoolsClient(
            CommercetoolsSettings.model_validate(settings),
            connection="shop",
            observer=self.records.append,
            sleep=fake_sleep,
            rng=lambda: 1.0,  # the top of the jitter range, so delays are exact
            monotonic=self.clock,
        )

    async def get_customer(self, customer_id: str = "c1", **kw: Any) -> Any:
        return await self.client.get(("customers", customer_id), operation="GET /customers/{id}", **kw)


@pytest.fixture()
async def fake() -> FakeCommercetools:
    f = FakeCommercetools()
    f.customers["c1"] = CUSTOMER
    return f


@pytest.fixture()
async def harness(fake: FakeCommercetools) -> AsyncIterator[Harness]:
    async with serve(fake) as base_url:
        h = Harness(fake, base_url)
        try:
            yield h
        finally:
            await h.client.aclose()


async def test_token_is_fetched_once_and_cached(harness: Harness) -> None:
    assert await harness.get_customer() == CUSTOMER
    assert await harness.get_customer() == CUSTOMER
    assert harness.fake.tokens_issued == 1
    assert harness.fake.token_forms == [{"grant_type": "client_credentials"}]  # no scope: all of the client's
    assert harness.fake.requests[0].headers["Authorization"] == "Bearer token-1"


async def test_scopes_are_requested_space_separated(fake: FakeCommercetools) -> None:
    async with serve(fake) as base_url:
        h = Harness(fake, base_url, scopes=[f"view_customers:{PROJECT}", f"view_messages:{PROJECT}"])
        await h.get_customer()
        await h.client.aclose()
    assert fake.token_forms[0]["scope"] == f"view_customers:{PROJECT} view_messages:{PROJECT}"


async def test_concurrent_callers_share_one_token_request(harness: Harness) -> None:
    harness.fake.token_delay = 0.05
    results = await asyncio.gather(*(harness.get_customer() for _ in range(20)))
    assert results == [CUSTOMER] * 20
    assert harness.fake.tokens_issued == 1


async def test_token_is_refreshed_shortly_before_it_expires(harness: Harness) -> None:
    harness.fake.expires_in = 1000  # refresh margin: 10% = 100 s
    await harness.get_customer()
    harness.clock.now += 899
    await harness.get_customer()
    assert harness.fake.tokens_issued == 1
    harness.clock.now += 2  # 901 s after issue: inside the margin
    await harness.get_customer()
    assert harness.fake.tokens_issued == 2
    assert harness.fake.requests[-1].headers["Authorization"] == "Bearer token-2"


async def test_invalid_token_refreshes_once_and_retries(harness: Harness) -> None:
    await harness.get_customer()
    harness.fake.revoke_all()
    assert await harness.get_customer() == CUSTOMER
    assert harness.fake.tokens_issued == 2
    statuses = [(r.operation, r.status) for r in harness.records]
    assert statuses == [
        ("POST /oauth/token", 200),
        ("GET /customers/{id}", 200),
        ("GET /customers/{id}", 401),
        ("POST /oauth/token", 200),
        ("GET /customers/{id}", 200),
    ]


async def test_concurrent_401s_cause_one_refresh(harness: Harness) -> None:
    await harness.get_customer()
    harness.fake.revoke_all()
    results = await asyncio.gather(*(harness.get_customer() for _ in range(10)))
    assert results == [CUSTOMER] * 10
    assert harness.fake.tokens_issued == 2


async def test_a_fresh_token_refused_again_is_fatal(harness: Harness) -> None:
    harness.fake.reject_every_token = True
    with pytest.raises(CredentialsError, match="freshly issued access token") as info:
        await harness.get_customer()
    assert harness.fake.tokens_issued == 2
    assert info.value.correlation_id == "proj/auth-failed"


async def test_bad_client_credentials(fake: FakeCommercetools) -> None:
    async with serve(fake) as base_url:
        h = Harness(fake, base_url, client_secret="wrong-secret-value")
        with pytest.raises(CredentialsError) as info:
            await h.get_customer()
        await h.client.aclose()
    error = info.value
    assert error.status == 401
    assert "invalid_client" in str(error) and "client_secret" in str(error)
    for text in (str(error), repr(error), repr(error.detail), *(repr(r) for r in h.records)):
        assert "wrong-secret-value" not in text and CLIENT_SECRET not in text
    assert [r.status for r in h.records] == [401]  # no retry of a refusal


async def test_5xx_is_retried_with_exponential_backoff(harness: Harness) -> None:
    await harness.get_customer()
    harness.fake.scripted += [
        Scripted(
            503,
            {"statusCode": 503, "message": "busy", "errors": [{"code": "OverCapacity", "message": "busy"}]},
        ),
        Scripted(502, "bad gateway"),
        Scripted(
            500, {"statusCode": 500, "message": "boom", "errors": [{"code": "General", "message": "boom"}]}
        ),
    ]
    assert await harness.get_customer() == CUSTOMER
    assert harness.sleeps == [0.5, 1.0, 2.0]
    assert [r.attempt for r in harness.records[-4:]] == [1, 2, 3, 4]


async def test_retries_stop_at_max_retries(harness: Harness) -> None:
    await harness.get_customer()
    harness.fake.scripted += [Scripted(503, {"statusCode": 503, "message": "busy", "errors": []})] * 10
    with pytest.raises(TransientError, match="503"):
        await harness.get_customer()
    assert harness.sleeps == [0.5, 1.0, 2.0]  # max_retries=3: 4 attempts, 3 waits (capped at 4 s)


async def test_429_waits_retry_after_or_leaves_long_waits_to_the_engine(harness: Harness) -> None:
    await harness.get_customer()
    harness.fake.scripted.append(
        Scripted(429, {"statusCode": 429, "message": "slow down"}, {"Retry-After": "2"})
    )
    assert await harness.get_customer() == CUSTOMER
    assert harness.sleeps == [2.0]
    harness.fake.scripted.append(
        Scripted(429, {"statusCode": 429, "message": "slow down"}, {"Retry-After": "60"})
    )
    with pytest.raises(RateLimitedError) as info:
        await harness.get_customer()
    assert info.value.retry_after == 60.0
    assert harness.sleeps == [2.0]


async def test_correlation_id_is_sent_and_kept(harness: Harness) -> None:
    await harness.get_customer(correlation_id="sync-42")
    assert harness.fake.requests[-1].headers["X-Correlation-ID"] == "sync-42"
    assert harness.records[-1].correlation_id == "sync-42"
    with pytest.raises(NotFoundError) as info:
        await harness.get_customer("missing", correlation_id="sync-43")
    assert info.value.correlation_id == "sync-43"
    assert info.value.status == 404


async def test_request_records_carry_no_secrets(harness: Harness) -> None:
    await harness.get_customer()
    assert [r.url.split("/", 3)[-1] for r in harness.records] == ["oauth/token", f"{PROJECT}/customers/c1"]
    for record in harness.records:
        assert record.connection == "shop" and record.latency_ms >= 0
        assert CLIENT_SECRET not in repr(record) and "token-1" not in repr(record)


async def test_connection_failures_are_transient_after_retries() -> None:
    fake = FakeCommercetools()
    async with serve(fake) as base_url:
        pass  # the server is gone: connections are refused
    h = Harness(fake, base_url, max_retries=2)
    with pytest.raises(TransientError, match="connection failed"):
        await h.get_customer()
    await h.client.aclose()
    assert h.sleeps == [0.5, 1.0]
    assert [r.status for r in h.records] == [None, None, None]
    assert all(r.error for r in h.records)


async def test_path_segments_are_encoded(harness: Harness) -> None:
    with pytest.raises(NotFoundError):
        await harness.get_customer("../../oauth/token?x=1")
    assert harness.fake.requests[-1].path.startswith(f"/{PROJECT}/customers/")


@pytest.mark.parametrize("segment", ["", ".", ".."])
async def test_dot_segments_are_refused(harness: Harness, segment: str) -> None:
    with pytest.raises(PermanentError, match="invalid path segment"):
        await harness.get_customer(segment)
