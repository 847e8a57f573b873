"""Fixtures for the fault-injection tests: both emulators on free loopback ports, real HTTP clients."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest

from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import CT_PROJECT, KLAVIYO_HEADERS, CtClient


@pytest.fixture()
async def klaviyo() -> AsyncIterator[KlaviyoEmulator]:
    """Rate limits off, so that only the fault plan decides what fails."""
    emu = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01, seed=7)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture()
async def kl_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=KLAVIYO_HEADERS) as session:
        yield session


@pytest.fixture()
async def ct() -> AsyncIterator[CommercetoolsEmulator]:
    emu = CommercetoolsEmulator(CT_PROJECT)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture()
async def ct_client(ct: CommercetoolsEmulator) -> AsyncIterator[CtClient]:
    async with aiohttp.ClientSession() as session:
        basic = "Basic " + base64.b64encode(b"client:secret").decode()
        async with session.post(
            ct.base_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic},
        ) as response:
            assert response.status == 200
            token = (await response.json())["access_token"]
        yield CtClient(session, ct.base_url, token)
