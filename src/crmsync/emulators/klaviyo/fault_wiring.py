"""Fault injection for the Klaviyo emulator: injected failures in Klaviyo's own wire format.

A 429 is built by the same ``throttled`` helper as the real rate limiter's (``Retry-After``, code
``throttled``, no ``RateLimit-*`` headers) and consumes no quota, so a client cannot tell the two
apart. 5xx answers are JSON:API error documents with code ``error``, like the emulator's own server
errors. Faulted requests that never reached a handler are still entered in the request log (status 0
when no response was sent), so rate measurements see everything a client sent.
"""

from __future__ import annotations

import time

from aiohttp import web

from crmsync.emulators.faults import Recorder
from crmsync.emulators.klaviyo.app import operation_of, record, throttled
from crmsync.emulators.klaviyo.context import Context
from crmsync.emulators.klaviyo.errors import ApiError


def render(request: web.Request, status: int, retry_after: int | None) -> web.StreamResponse:
    if status == 429:
        return throttled(retry_after if retry_after is not None else 1).response()
    return ApiError(status, "error", "A server error occurred.").response()


def recorder(ctx: Context) -> Recorder:
    def record_fault(request: web.Request, status: int) -> None:
        record(ctx, request, operation_of(request), status, time.monotonic(), time.time())

    return record_fault
