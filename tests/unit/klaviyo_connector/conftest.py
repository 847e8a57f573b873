from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector, KlaviyoSettings
from crmsync.connectors.klaviyo.client import KlaviyoClient
from crmsync.ports import RequestRecord
from tests.unit.klaviyo_connector.fake_klaviyo import FakeKlaviyo

API_KEY = "pk_unit_test_SECRET_0123456789abcdef"


class RecordedSleep:
    """Stands in for ``asyncio.sleep``: remembers each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def fake() -> AsyncIterator[FakeKlaviyo]:
    server = FakeKlaviyo()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def records() -> list[RequestRecord]:
    return []


@pytest.fixture
def sleeps() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
async def make_connector(
    fake: FakeKlaviyo, records: list[RequestRecord], sleeps: RecordedSleep
) -> AsyncIterator[Callable[..., KlaviyoConnector]]:
    """Build connectors against the fake; retries sleep through ``sleeps`` (no real waiting)."""
    made: list[KlaviyoConnector] = []
    base_url = fake.base_url

    def build(**overrides: Any) -> KlaviyoConnector:
        options: dict[str, Any] = {
            "api_key": API_KEY,
            "base_url": base_url,
            "max_retries": 3,
            "bulk_poll_interval_seconds": 0.01,
            **overrides,
        }
        settings = KlaviyoSettings(**options)
        client = KlaviyoClient(settings, connection="kl", observer=records.append, sleep=sleeps)
        connector = KlaviyoConnector("kl", settings, client=client)
        made.append(connector)
        return connector

    yield build
    for connector in made:
        await connector.aclose()
