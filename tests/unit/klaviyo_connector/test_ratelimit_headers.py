"""``RateLimit-*`` response headers lower the budget (never raise it) and hold it when used up."""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.connectors.klaviyo import KlaviyoConnector, KlaviyoSettings
from crmsync.connectors.klaviyo.client import KlaviyoClient
from crmsync.connectors.klaviyo.limits import OPERATION_LIMITS, LearnedLimits
from tests.unit.klaviyo_connector.conftest import API_KEY, RecordedSleep
from tests.unit.klaviyo_connector.fake_klaviyo import FakeKlaviyo, Reply

OP = "create_or_update_profile"


def _headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }


def test_a_lower_limit_replaces_the_window_the_reset_points_at() -> None:
    learned = LearnedLimits()
    assert learned.limits(OP) == OPERATION_LIMITS[OP]
    assert learned.observe(OP, _headers(10, 7, 1)) is None  # burst window: 75/s -> 10/s
    assert learned.limits(OP) == ((10, 1.0), (750, 60.0))
    learned.observe(OP, _headers(150, 140, 42))  # steady window: 750/min -> 150/min
    assert learned.limits(OP) == ((10, 1.0), (150, 60.0))


def test_a_higher_limit_never_raises_the_budget() -> None:
    learned = LearnedLimits()
    learned.observe(OP, _headers(5000, 4000, 1))
    learned.observe(OP, _headers(9000, 4000, 30))
    assert learned.limits(OP) == OPERATION_LIMITS[OP]


def test_a_used_up_window_asks_for_a_hold_until_reset() -> None:
    learned = LearnedLimits()
    assert learned.observe(OP, _headers(750, 0, 17)) == 17.0
    assert learned.observe(OP, _headers(750, 1, 17)) is None


def test_missing_or_garbled_headers_change_nothing() -> None:
    learned = LearnedLimits()
    assert learned.observe(OP, {}) is None
    assert learned.observe(OP, {"RateLimit-Limit": "abc", "RateLimit-Reset": "1"}) is None
    assert (
        learned.observe(OP, {"RateLimit-Limit": "-3", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"})
        is None
    )
    assert learned.limits(OP) == OPERATION_LIMITS[OP]


def test_header_names_are_case_insensitive() -> None:
    learned = LearnedLimits()
    learned.observe(OP, {"ratelimit-limit": "20", "ratelimit-remaining": "3", "ratelimit-reset": "1"})
    assert learned.limits(OP)[0] == (20, 1.0)


class _Limiter:
    def __init__(self) -> None:
        self.acquired: list[tuple[str, tuple[tuple[int, float], ...]]] = []
        self.holds: list[tuple[str, float]] = []

    async def acquire(self, bucket: str, limits: Sequence[tuple[int, float]]) -> None:
        self.acquired.append((bucket, tuple(limits)))

    def hold(self, bucket: str, seconds: float) -> None:
        self.holds.append((bucket, seconds))


async def test_the_client_holds_the_budget_and_sends_at_the_lowered_limit(fake: FakeKlaviyo) -> None:
    created = {"data": {"type": "profile", "id": "P1"}}
    fake.on(
        "POST",
        "/api/profile-import",
        Reply(201, created, headers=_headers(20, 0, 1)),
        Reply(201, created, headers=_headers(20, 19, 1)),
    )
    limiter = _Limiter()
    settings = KlaviyoSettings(api_key=API_KEY, base_url=fake.base_url, max_retries=0)
    client = KlaviyoClient(settings, connection="kl", sleep=RecordedSleep(), limiter=limiter)
    connector = KlaviyoConnector("kl", settings, client=client)
    try:
        for _ in range(2):
            await client.request("POST", "/api/profile-import", body={"data": {}}, operation=OP)
    finally:
        await connector.aclose()
    assert [limits for _, limits in limiter.acquired] == [OPERATION_LIMITS[OP], ((20, 1.0), (750, 60.0))]
    assert len(limiter.holds) == 1 and limiter.holds[0][1] == 1.0
    bucket = limiter.holds[0][0]
    assert bucket.endswith(":" + OP) and API_KEY not in bucket  # named by a digest, never the key
