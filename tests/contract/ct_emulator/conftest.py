"""Fixtures for the commercetools emulator tests: a running emulator and a small real-HTTP client."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from crmsync.emulators.commercetools import CommercetoolsEmulator

PROJECT = "test-proj"


def basic(client_id: str = "client", secret: str = "secret") -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class Api:
    """A thin client: every call is real HTTP over loopback; answers are ``(status, json or None)``."""

    emu: CommercetoolsEmulator
    base_url: str
    session: aiohttp.ClientSession
    token: str = ""

    async def authenticate(self, scope: str | None = None, client_id: str = "client") -> dict[str, Any]:
        data = {"grant_type": "client_credentials"}
        if scope is not None:
            data["scope"] = scope
        async with self.session.post(
            f"{self.base_url}/oauth/token", data=data, headers={"Authorization": basic(client_id)}
        ) as response:
            body = await response.json()
            assert response.status == 200, body
        self.token = body["access_token"]
        return dict(body)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        url = f"{self.base_url}/{PROJECT}{path}" if not path.startswith("/oauth") else self.base_url + path
        async with self.session.request(
            method, url, json=json, data=data, params=params, headers=all_headers
        ) as response:
            raw = await response.read()
            body = await response.json(content_type=None) if raw else None
            return response.status, body

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, body: Any, **params: Any) -> tuple[int, Any]:
        return await self.call("POST", path, json=body, params=params or None)

    async def create(self, draft: dict[str, Any]) -> dict[str, Any]:
        status, body = await self.post("/customers", draft)
        assert status == 201, body
        return dict(body["customer"])

    async def update(self, customer: dict[str, Any], *actions: dict[str, Any]) -> tuple[int, Any]:
        return await self.post(
            f"/customers/{customer['id']}", {"version": customer["version"], "actions": list(actions)}
        )


@pytest.fixture()
async def emu() -> AsyncIterator[CommercetoolsEmulator]:
    emulator = CommercetoolsEmulator(PROJECT)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture()
async def api(emu: CommercetoolsEmulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        client = Api(emu, emu.base_url, session)
        await client.authenticate()
        yield client


def simple_draft(i: int, **extra: Any) -> dict[str, Any]:
    return {"email": f"user{i}@example.com", "password": "secret", "firstName": f"First{i}", **extra}
