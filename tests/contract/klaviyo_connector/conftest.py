"""The Klaviyo emulator and connectors built against it, for the connector's contract tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector, create
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.ports import RequestRecord
from tests.contract.klaviyo_connector.support import API_KEY


@pytest.fixture
async def emulator() -> AsyncIterator[KlaviyoEmulator]:
    emu = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.002)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def connect(emulator: KlaviyoEmulator) -> AsyncIterator[Callable[..., KlaviyoConnector]]:
    """``connect(observer=None, **settings)``: a connector on the emulator, closed after the test."""
    made: list[KlaviyoConnector] = []

    def build(observer: Callable[[RequestRecord], None] | None = None, **settings: Any) -> KlaviyoConnector:
        options = {"api_key": API_KEY, "base_url": emulator.base_url, "bulk_poll_interval_seconds": 0.005}
        connector = create("klaviyo-test", {**options, **settings}, observer)
        made.append(connector)
        return connector

    yield build
    for connector in made:
        await connector.aclose()
