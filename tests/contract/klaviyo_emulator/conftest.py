"""Fixtures: a Klaviyo emulator on a free port and an aiohttp session speaking to it like a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import HEADERS, Client


@pytest.fixture()
async def emulator() -> AsyncIterator[KlaviyoEmulator]:
    emu = KlaviyoEmulator(job_step_seconds=0.01, seed=7)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture()
async def http(emulator: KlaviyoEmulator) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        yield Client(session, emulator.base_url)
