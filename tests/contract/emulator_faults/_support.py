"""Shared helpers: vendor headers, a small commercetools client and body builders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

CT_PROJECT = "fault-proj"
KLAVIYO_HEADERS = {
    "Authorization": "Klaviyo-API-Key pk_faults",
    "revision": "2026-07-15",
    "Accept": "application/vnd.api+json",
    "Content-Type": "application/vnd.api+json",
}


@dataclass
class CtClient:
    session: aiohttp.ClientSession
    base_url: str
    token: str

    def url(self, path: str) -> str:
        return f"{self.base_url}/{CT_PROJECT}{path}"

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, Any]:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.url(path), data=data, headers=all_headers) as resp:
            raw = await resp.read()
            return resp.status, (json.loads(raw) if raw else None), resp.headers


def profile_import(email: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": {"email": email, **attributes}}}


async def admin(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, Any]:
    """Call an ``/__emulator`` endpoint with no vendor headers at all (no auth, no revision)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    async with session.request(
        method, url, data=data, headers={"Content-Type": "application/json"}
    ) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text else None)
