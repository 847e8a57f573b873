"""State shared by the middleware and the route handlers, plus small HTTP helpers."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from crmsync.emulators.klaviyo.errors import JSONAPI, too_large
from crmsync.emulators.klaviyo.ids import IdFactory
from crmsync.emulators.klaviyo.jobs import JobManager
from crmsync.emulators.klaviyo.ratelimit import RateLimiter
from crmsync.emulators.klaviyo.store import Store
from crmsync.emulators.klaviyo.validation import parse_json

KB = 1024
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the emulator saw it (``emulator.request_log``)."""

    method: str
    path: str
    operation_id: str | None
    status: int
    at: float  # time.monotonic() when received
    received_at: float  # time.time() when received
    duration: float  # seconds spent answering
    body_size: int
    correlation_id: str | None  # X-Correlation-Id / X-Request-Id sent by the client, if any


@dataclass
class Context:
    store: Store
    ids: IdFactory
    jobs: JobManager
    limiter: RateLimiter
    rate_limits: bool = True
    request_log: list[RequestRecord] = field(default_factory=list)
    counts: Counter[tuple[str | None, int]] = field(default_factory=Counter)
    writes: int = 0


CTX: web.AppKey[Context] = web.AppKey("klaviyo_context", Context)


def context(request: web.Request) -> Context:
    return request.app[CTX]


def base_url(request: web.Request) -> str:
    """The origin the client used (``http://127.0.0.1:PORT``): links must be followable verbatim."""
    return str(request.url.origin())


async def read_json(request: web.Request, limit: int) -> Any:
    """Read and parse the body, enforcing the endpoint's documented maximum payload size."""
    raw = await request.read()
    if len(raw) > limit:
        raise too_large(limit, len(raw))
    return parse_json(raw)


def respond(doc: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(doc, separators=(",", ":")).encode(), content_type=JSONAPI
    )


def accepted() -> web.Response:
    """202 with an empty body (create_event and the other fire-and-forget endpoints)."""
    return web.Response(status=202)


def no_content() -> web.Response:
    return web.Response(status=204)
