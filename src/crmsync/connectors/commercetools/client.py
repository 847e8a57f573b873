"""The commercetools project API over HTTP: bearer auth, one refresh on 401, typed errors.

Paths are given relative to the project (``("customers", id)``); segments are percent-encoded
(``/``, ``?`` and ``#`` included), so an id can never escape its path segment. Query parameters
are a list of pairs because ``sort`` and ``where`` repeat.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from yarl import URL

from crmsync.connectors.commercetools.auth import TokenProvider
from crmsync.connectors.commercetools.settings import CommercetoolsSettings
from crmsync.connectors.commercetools.transport import Response, RetryPolicy, Sleep, Transport
from crmsync.errors import AuthError, CredentialsError, PermanentError
from crmsync.ports import RequestObserver

Params = Sequence[tuple[str, str]]


class CommercetoolsClient:
    """HTTP access to one project. Create inside or outside a loop; use and close in one loop."""

    def __init__(
        self,
        settings: CommercetoolsSettings,
        *,
        connection: str,
        observer: RequestObserver | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.transport = Transport(
            connection=connection,
            timeout_seconds=settings.timeout_seconds,
            retry=RetryPolicy(
                max_retries=settings.max_retries,
                backoff_base_seconds=settings.backoff_base_seconds,
                backoff_max_seconds=settings.backoff_max_seconds,
            ),
            observer=observer,
            sleep=sleep,
            rng=rng,
        )
        self.auth = TokenProvider(
            auth_url=settings.auth_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scopes=settings.scopes,
            transport=self.transport,
            clock=monotonic,
        )
        self._project_url = URL(settings.api_url) / settings.project_key

    def url(self, path: Sequence[str], params: Params = ()) -> URL:
        """``{api_url}/{projectKey}/<segments>?<params>``; each segment is fully percent-encoded.

        yarl's ``/`` keeps ``/`` and resolves ``..``, so an id such as ``../../x`` would escape
        its segment; segments are therefore quoted here and dot segments refused.
        """
        quoted = []
        for segment in path:
            if segment in ("", ".", ".."):
                raise PermanentError(
                    f"invalid path segment {segment!r} in a commercetools request",
                    connection=self.transport.connection,
                )
            quoted.append(quote(segment, safe=""))
        raw_path = "/".join([self._project_url.raw_path.rstrip("/"), *quoted])
        url = self._project_url.with_path(raw_path, encoded=True)
        return url.with_query(list(params)) if params else url

    async def request(
        self,
        method: str,
        path: Sequence[str],
        *,
        operation: str,
        params: Params = (),
        json_body: Any = None,
        correlation_id: str | None = None,
    ) -> Response:
        """Send an authenticated request; on 401 ``invalid_token`` refresh the token once and retry.

        A second 401 right after a fresh token means the credentials themselves are no longer
        accepted (client revoked): that is fatal, not another refresh.
        """
        url = self.url(path, params)
        refreshed = False
        while True:
            token = await self.auth.get()
            try:
                return await self.transport.request(
                    method,
                    url,
                    operation=operation,
                    headers={"Authorization": f"Bearer {token}"},
                    json_body=json_body,
                    correlation_id=correlation_id,
                )
            except AuthError as exc:
                if refreshed:
                    raise CredentialsError(
                        f"commercetools refused a freshly issued access token for {operation}: "
                        "the API client may have been revoked",
                        connection=self.transport.connection,
                        correlation_id=exc.correlation_id,
                        status=exc.status,
                    ) from exc
                refreshed = True
                await self.auth.invalidate(token)

    async def get(
        self, path: Sequence[str], params: Params = (), *, operation: str, correlation_id: str | None = None
    ) -> Any:
        response = await self.request(
            "GET", path, params=params, operation=operation, correlation_id=correlation_id
        )
        return response.body

    async def post(
        self,
        path: Sequence[str],
        body: Any,
        params: Params = (),
        *,
        operation: str,
        correlation_id: str | None = None,
    ) -> Any:
        response = await self.request(
            "POST", path, params=params, json_body=body, operation=operation, correlation_id=correlation_id
        )
        return response.body

    async def aclose(self) -> None:
        await self.transport.aclose()
