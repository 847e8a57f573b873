"""HTTP client for the Klaviyo REST API: headers, JSON, concurrency cap, retries, request records.

One :class:`aiohttp.ClientSession` is reused for every request (connection pooling matters at
hundreds of requests per second). A semaphore caps requests in flight; it is held only while a
request is on the wire, never while sleeping before a retry, so a throttled request does not block
the others' slots. A 429 closes a shared gate until its ``Retry-After`` has passed: the quota is per
account, so every request of this connection would be throttled until then anyway.

The API key is only ever placed in the ``Authorization`` header. URLs reported to the observer
carry no key and have filter values masked (they may contain e-mail addresses).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from yarl import URL

from crmsync.connectors.klaviyo.errors import RetryPolicy, error_from_response, transport_error
from crmsync.connectors.klaviyo.limits import LearnedLimits
from crmsync.connectors.klaviyo.settings import KlaviyoSettings
from crmsync.errors import CrmsyncError, RateLimitedError, TransientError
from crmsync.ports import JSON, RateLimiter, RequestObserver, RequestRecord

log = logging.getLogger(__name__)

JSONAPI = "application/vnd.api+json"
USER_AGENT = "crmsync-klaviyo-connector"
Sleep = Callable[[float], Awaitable[None]]

#: Bodies above this size (bulk jobs, up to 5 MB) are streamed from a buffer rather than written in
#: one piece, as aiohttp recommends, so that sending them does not stall the event loop.
STREAM_BODY_BYTES = 1024 * 1024

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass
class Response:
    """A successful (2xx) response, decoded."""

    status: int
    body: JSON | None
    headers: Mapping[str, str]
    attempts: int


@dataclass
class CallStats:
    """Counts the requests actually sent for one logical operation (retries included)."""

    attempts: int = 0


def mask_query(url: URL) -> str:
    """The URL as reported to observers: string literals inside ``filter`` replaced by ``"***"``."""
    if not url.query:
        return str(url)
    masked = {k: (_QUOTED.sub('"***"', v) if k == "filter" else v) for k, v in url.query.items()}
    return str(url.with_query(masked))


class KlaviyoClient:
    """Sends JSON:API requests to Klaviyo and turns failures into crmsync errors.

    ``request`` returns a :class:`Response` for any 2xx status, or raises the
    :class:`~crmsync.errors.CrmsyncError` of the last attempt once the :class:`RetryPolicy` gives up.
    ``sleep`` and ``rng`` are injectable so that tests can check delays without waiting.
    """

    def __init__(
        self,
        settings: KlaviyoSettings,
        *,
        connection: str,
        observer: RequestObserver | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._limiter = limiter
        # The budget is per Klaviyo account: name it by a digest of the key, never the key itself.
        digest = hashlib.sha256(settings.api_key.get_secret_value().encode()).hexdigest()[:12]
        self._bucket_prefix = f"klaviyo:{digest}:"
        self.learned = LearnedLimits()
        self._connection = connection
        self._observer = observer
        self.policy = policy or RetryPolicy(max_retries=settings.max_retries)
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._gate_until = 0.0  # monotonic time before which no request is sent (after a 429)
        self._base = URL(settings.base_url)

    def __repr__(self) -> str:
        return f"KlaviyoClient(connection={self._connection!r}, base_url={self._settings.base_url!r})"

    @property
    def base_url(self) -> URL:
        return self._base

    def _headers(self) -> dict[str, str]:
        key = self._settings.api_key.get_secret_value()
        return {
            "Authorization": f"Klaviyo-API-Key {key}",
            "revision": self._settings.revision,
            "Accept": JSONAPI,
            "Content-Type": JSONAPI,
            "User-Agent": USER_AGENT,
        }

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._settings.max_concurrency)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_seconds),
            )
        return self._session

    def url(self, path: str, params: Mapping[str, str] | None = None) -> URL:
        """Absolute URL of an API path (``/api/...``, already percent-encoded) on the configured host."""
        url = self._base.with_path(self._base.path.rstrip("/") + path, encoded=True)
        return url.with_query(dict(params)) if params else url

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: JSON | bytes | None = None,
        params: Mapping[str, str] | None = None,
        operation: str,
        record_key: str | None = None,
        correlation_id: str | None = None,
        stats: CallStats | None = None,
        kind: str | None = None,
    ) -> Response:
        """Send one request with retries; ``body`` may be pre-serialized bytes (bulk jobs)."""
        url = self.url(path, params)
        data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        ctx = {
            "connection": self._connection,
            "operation": operation,
            "record_key": record_key,
            "correlation_id": correlation_id,
            "kind": kind,
        }
        attempt = 0
        while True:
            attempt += 1
            if stats is not None:
                stats.attempts += 1
            try:
                return await self._attempt(method, url, data, attempt, ctx)
            except CrmsyncError as exc:
                delay = self.policy.delay(exc, attempt, self._rng)
                if delay is None:
                    raise
                log.info(
                    "klaviyo %s attempt %d failed (%s); retrying in %.2fs",
                    operation,
                    attempt,
                    type(exc).__name__,
                    delay,
                )
                if isinstance(exc, RateLimitedError):
                    # Close the gate for every request of this connection; the wait happens at the
                    # gate at the start of the next attempt, so it is slept once, not twice. The
                    # shared budget holds the bucket too, for every other sender of this account.
                    self._gate_until = max(self._gate_until, time.monotonic() + delay)
                    if self._limiter is not None:
                        self._limiter.hold(self._bucket_prefix + operation, delay)
                else:
                    await self._sleep(delay)

    async def _attempt(
        self, method: str, url: URL, data: bytes | None, attempt: int, ctx: dict[str, Any]
    ) -> Response:
        wait = self._gate_until - time.monotonic()
        if wait > 0:
            await self._sleep(wait)
        session = self._get_session()
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        status: int | None = None
        error: CrmsyncError | None = None
        try:
            async with self._semaphore:
                if self._limiter is not None:
                    # Take the budget right before sending (inside the concurrency gate), so queued
                    # requests cannot bunch up after their slot and overrun the window.
                    operation = str(ctx.get("operation") or "")
                    await self._limiter.acquire(
                        self._bucket_prefix + operation, self.learned.limits(operation)
                    )
                started_at = datetime.now(UTC)  # the send time, for the sync log
                t0 = time.perf_counter()
                try:
                    payload = io.BytesIO(data) if data and len(data) > STREAM_BODY_BYTES else data
                    async with session.request(
                        method, url, data=payload, headers=self._headers(), allow_redirects=False
                    ) as resp:
                        raw = await resp.read()
                        headers = dict(resp.headers)
                        status = resp_status = resp.status
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    error = transport_error(exc, **_error_ctx(ctx))
                    raise error from None
            if self._limiter is not None and resp_status != 429:
                self._learn(str(ctx.get("operation") or ""), headers)
            outcome = _interpret(resp_status, raw, headers, attempt, ctx)
            if isinstance(outcome, CrmsyncError):
                error = outcome
                raise error
            return outcome
        finally:
            self._report(method, url, status, t0, started_at, attempt, ctx, error)

    def _learn(self, operation: str, headers: Mapping[str, str]) -> None:
        hold = self.learned.observe(operation, headers)
        if hold is not None and self._limiter is not None:
            log.info("klaviyo %s: RateLimit-Remaining is 0; holding the budget for %.0fs", operation, hold)
            self._limiter.hold(self._bucket_prefix + operation, hold)

    def _report(
        self,
        method: str,
        url: URL,
        status: int | None,
        t0: float,
        started_at: datetime,
        attempt: int,
        ctx: dict[str, Any],
        error: CrmsyncError | None,
    ) -> None:
        if self._observer is None:
            return
        record = RequestRecord(
            connection=self._connection,
            method=method,
            url=mask_query(url),
            status=status,
            latency_ms=(time.perf_counter() - t0) * 1000.0,
            started_at=started_at,
            attempt=attempt,
            correlation_id=ctx.get("correlation_id"),
            operation=ctx.get("operation"),
            error=f"{type(error).__name__}: {error.message}" if error is not None else None,
            kind=ctx.get("kind"),
            record_key=ctx.get("record_key"),
        )
        try:
            self._observer(record)
        except Exception:  # an observer bug must not fail a delivery
            log.exception("request observer failed for klaviyo %s", ctx.get("operation"))

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _error_ctx(ctx: dict[str, Any]) -> dict[str, Any]:
    return {k: ctx[k] for k in ("connection", "operation", "record_key", "correlation_id")}


def _interpret(
    status: int, raw: bytes, headers: Mapping[str, str], attempt: int, ctx: dict[str, Any]
) -> Response | CrmsyncError:
    """Either the error a response stands for, or the decoded 2xx response."""
    parsed = _decode(raw)
    if 200 <= status < 300:
        if raw and parsed is None:
            message = f"klaviyo {ctx['operation']}: HTTP {status} with a body that is not a JSON object"
            return TransientError(
                message,
                status=status,
                entity="profile",
                **{k: ctx[k] for k in ("connection", "record_key", "correlation_id")},
            )
        return Response(status, parsed, headers, attempt)
    return error_from_response(status, parsed, headers, **_error_ctx(ctx))


def _decode(raw: bytes) -> JSON | None:
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
