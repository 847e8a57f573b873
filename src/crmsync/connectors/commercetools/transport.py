"""One HTTP exchange with commercetools, with the retry policy and request reporting around it.

Both the token endpoint (:mod:`.auth`) and the project API (:mod:`.client`) go through
:class:`Transport`, so timeouts, error mapping, backoff and the observer behave the same for both.
Retries follow the vendor's guidance for 502/503 (exponential backoff with full jitter); a 429
waits ``Retry-After`` when that is short, otherwise the error goes up to the engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from crmsync.connectors.commercetools.errors import error_from_exception, map_error, parse_error_body
from crmsync.errors import RateLimitedError, TransientError
from crmsync.ports import RequestObserver, RequestRecord

log = logging.getLogger(__name__)

USER_AGENT = "crmsync-commercetools/0.1"
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Response:
    """A successful (2xx) response with its JSON body already parsed."""

    status: int
    body: Any
    headers: Mapping[str, str]
    correlation_id: str | None


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**(attempt-1))] (AWS architecture blog)."""
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * (2.0 ** min(attempt - 1, 30)))
        return rng() * ceiling


class Transport:
    """Owns the (reused) :class:`aiohttp.ClientSession` of one connection.

    The session is created lazily because aiohttp binds it to the running event loop.
    """

    def __init__(
        self,
        *,
        connection: str,
        timeout_seconds: float,
        retry: RetryPolicy,
        observer: RequestObserver | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.connection = connection
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.retry = retry
        self._observer = observer
        self._sleep = sleep
        self._rng = rng
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                raise_for_status=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def request(
        self,
        method: str,
        url: URL,
        *,
        operation: str,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        correlation_id: str | None = None,
        token_endpoint: bool = False,
    ) -> Response:
        """Send with retries on transient failures; raise a mapped :class:`CrmsyncError` otherwise.

        Retrying is safe for every request this connector makes: reads, the token request, and
        updates guarded by ``version`` (a repeat of an applied update gets a 409, never a double
        write).
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._once(
                    method,
                    url,
                    operation=operation,
                    headers=headers,
                    data=data,
                    json_body=json_body,
                    correlation_id=correlation_id,
                    token_endpoint=token_endpoint,
                    attempt=attempt,
                )
            except RateLimitedError as exc:
                if attempt > self.retry.max_retries:
                    raise
                if exc.retry_after > self.retry.backoff_max_seconds:
                    raise  # a long wait is the engine's decision, not a hidden sleep here
                delay = exc.retry_after
            except TransientError:
                if attempt > self.retry.max_retries:
                    raise
                delay = self.retry.backoff(attempt, self._rng)
            log.debug("retrying %s in %.2fs (attempt %d)", operation, delay, attempt + 1)
            await self._sleep(delay)

    async def _once(
        self,
        method: str,
        url: URL,
        *,
        operation: str,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        json_body: Any,
        correlation_id: str | None,
        token_endpoint: bool,
        attempt: int,
    ) -> Response:
        send_headers = dict(headers or {})
        if correlation_id:
            send_headers["X-Correlation-ID"] = correlation_id
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        session = self._get_session()
        try:
            async with session.request(method, url, headers=send_headers, data=data, json=json_body) as resp:
                body = await resp.read()
                status = resp.status
                resp_headers = resp.headers
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = error_from_exception(
                exc, operation=operation, connection=self.connection, correlation_id=correlation_id
            )
            self._report(method, url, None, t0, started_at, attempt, correlation_id, operation, str(error))
            raise error from exc
        response_cid = resp_headers.get("X-Correlation-ID") or correlation_id
        if status >= 400:
            info = parse_error_body(
                status, body, resp_headers, operation=operation, connection=self.connection
            )
            error = map_error(info, token_endpoint=token_endpoint)
            if error.correlation_id is None:
                error.correlation_id = response_cid
            self._report(method, url, status, t0, started_at, attempt, response_cid, operation, error.message)
            raise error
        self._report(method, url, status, t0, started_at, attempt, response_cid, operation, None)
        return Response(status, self._parse_json(body, operation, response_cid), resp_headers, response_cid)

    def _parse_json(self, body: bytes, operation: str, correlation_id: str | None) -> Any:
        if not body:
            return None
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            # A truncated or proxy-substituted body: the same request usually succeeds again.
            raise TransientError(
                f"commercetools {operation} returned a body that is not JSON ({exc})",
                connection=self.connection,
                correlation_id=correlation_id,
            ) from exc

    def _report(
        self,
        method: str,
        url: URL,
        status: int | None,
        t0: float,
        started_at: datetime,
        attempt: int,
        correlation_id: str | None,
        operation: str,
        error: str | None,
    ) -> None:
        if self._observer is None:
            return
        record = RequestRecord(
            connection=self.connection,
            method=method,
            url=str(url.with_user(None)),  # credentials never travel in the URL, but be sure
            status=status,
            latency_ms=(time.perf_counter() - t0) * 1000.0,
            started_at=started_at,
            attempt=attempt,
            correlation_id=correlation_id,
            operation=operation,
            error=error,
        )
        try:
            self._observer(record)
        except Exception:  # an observer bug must not break the sync; say so loudly instead
            log.exception("request observer failed for %s", operation)
