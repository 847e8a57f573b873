"""A scripted Klaviyo stand-in for connector unit tests: canned replies per route, every request kept.

Unlike the emulator (which models Klaviyo's behaviour), this server answers exactly what a test
scripts, so error paths (a 503 then a 200, a 429 with a given Retry-After, a 409 with a given
duplicate id) can be produced deterministically. Served on 127.0.0.1 by the emulators' runtime.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from crmsync.emulators._runtime import EmulatorServer


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Captured:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


Handler = Callable[[Captured], Reply | Awaitable[Reply]]


def error_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"id": "e-1", "status": status, "code": code, "title": code, "detail": detail}
    error.update(extra)
    return {"errors": [error]}


def profile_body(profile_id: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "id": profile_id, "attributes": attributes}}


class FakeKlaviyo:
    """``on(method, path, *replies)`` queues replies (the last one repeats) or installs a handler."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self._routes: dict[tuple[str, str], list[Reply] | Handler] = {}
        self._server = EmulatorServer(self._app)

    def on(self, method: str, path: str, *replies: Reply | Handler) -> None:
        if len(replies) == 1 and callable(replies[0]):
            self._routes[(method, path)] = replies[0]
        else:
            self._routes[(method, path)] = [r for r in replies if isinstance(r, Reply)]

    def sent(self, method: str | None = None, path: str | None = None) -> list[Captured]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path == path)
        ]

    @property
    def base_url(self) -> str:
        return str(self._server.base_url)

    async def start(self) -> str:
        return str(await self._server.start())

    async def stop(self) -> None:
        await self._server.stop()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        captured = Captured(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
        )
        self.requests.append(captured)
        route = self._routes.get((request.method, request.path))
        if route is None:
            reply = Reply(404, error_body(404, "not_found", f"no route {request.method} {request.path}"))
        elif isinstance(route, list):
            reply = route.pop(0) if len(route) > 1 else route[0]
        else:
            outcome = route(captured)
            reply = await outcome if inspect.isawaitable(outcome) else outcome
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if isinstance(reply.body, bytes):
            raw = reply.body
        else:
            raw = b"" if reply.body is None else orjson.dumps(reply.body)
        return web.Response(
            status=reply.status,
            body=raw,
            headers={"Content-Type": "application/vnd.api+json", **reply.headers},
        )
