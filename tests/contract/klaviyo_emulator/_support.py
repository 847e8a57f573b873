"""Helpers shared by the Klaviyo emulator contract tests: an HTTP client and body builders."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import aiohttp

API_KEY = "pk_contract_test"
REVISION = "2026-07-15"
HEADERS = {
    "Authorization": f"Klaviyo-API-Key {API_KEY}",
    "revision": REVISION,
    "Accept": "application/vnd.api+json",
    "Content-Type": "application/vnd.api+json",
}


class Client:
    """Thin helper: JSON bodies in, (status, parsed JSON or None, headers) out."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any, Any]:
        url = path if path.startswith("http") else self.base + path
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if body is not None and raw is None:
            raw = json.dumps(body).encode()
        if raw is not None:
            # large bodies as a stream: aiohttp warns about big in-memory byte payloads
            kwargs["data"] = io.BytesIO(raw) if len(raw) > 512 * 1024 else raw
        async with self.session.request(method, url, **kwargs) as resp:
            text = await resp.text()
            return resp.status, (await resp.json(content_type=None)) if text else None, resp.headers

    async def get(self, path: str, **params: str) -> tuple[int, Any, Any]:
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, body: Any) -> tuple[int, Any, Any]:
        return await self.call("POST", path, body)

    async def patch(self, path: str, body: Any) -> tuple[int, Any, Any]:
        return await self.call("PATCH", path, body)

    async def create_profile(self, **attributes: Any) -> dict[str, Any]:
        status, doc, _ = await self.post("/api/profiles", profile_doc(**attributes))
        assert status == 201, doc
        return doc["data"]

    async def wait_job(self, job_id: str) -> dict[str, Any]:
        """Poll the job until it is complete (fails the test after 5 s)."""
        async with asyncio.timeout(5):
            while True:
                status, doc, _ = await self.get(f"/api/profile-bulk-import-jobs/{job_id}")
                assert status == 200, doc
                if doc["data"]["attributes"]["status"] == "complete":
                    return doc["data"]
                await asyncio.sleep(0.01)


def profile_doc(
    profile_id: str | None = None, meta: dict[str, Any] | None = None, **attributes: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "profile", "attributes": attributes}
    if profile_id is not None:
        data["id"] = profile_id
    if meta is not None:
        data["meta"] = meta
    return {"data": data}


def event_doc(
    metric: str = "Placed Order", profile: dict[str, Any] | None = None, **attributes: Any
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "properties": attributes.pop("properties", {}),
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": {"type": "profile", "attributes": profile or {"email": "buyer@example.com"}}},
    }
    attrs.update(attributes)
    return {"data": {"type": "event", "attributes": attrs}}


def job_doc(profiles: list[dict[str, Any]], list_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "profile-bulk-import-job",
        "attributes": {"profiles": {"data": [{"type": "profile", "attributes": p} for p in profiles]}},
    }
    if list_ids:
        data["relationships"] = {"lists": {"data": [{"type": "list", "id": i} for i in list_ids]}}
    return {"data": data}


def only_error(doc: Any) -> dict[str, Any]:
    """The single error object of an error document, after checking the common shape."""
    assert isinstance(doc, dict) and list(doc) == ["errors"], doc
    assert len(doc["errors"]) == 1, doc
    error = doc["errors"][0]
    assert set(error) == {"id", "status", "code", "title", "detail", "source", "links", "meta"}, error
    return error
