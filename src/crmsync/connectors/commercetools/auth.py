"""Client-credentials access tokens for the commercetools API.

One token serves every request of a connection. It is cached until shortly before it expires and
refreshed proactively then; a 401 ``invalid_token`` from the API (token revoked or expired early)
invalidates exactly the token that was refused, so concurrent requests that hit the same 401
trigger one refresh, not one each. Concurrent callers share one in-flight token request.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr
from yarl import URL

from crmsync.connectors.commercetools.transport import Transport
from crmsync.errors import CredentialsError

MAX_REFRESH_MARGIN_SECONDS = 300.0
REFRESH_MARGIN_FRACTION = 0.1


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # on the provider's monotonic clock
    refresh_at: float
    scope: str | None


class TokenProvider:
    """Fetches and caches the bearer token of one API client."""

    def __init__(
        self,
        *,
        auth_url: str,
        client_id: SecretStr,
        client_secret: SecretStr,
        scopes: list[str] | None,
        transport: Transport,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = URL(auth_url + "/oauth/token")
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = scopes
        self._transport = transport
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0  # token requests made (for tests and statistics)

    @property
    def token_url(self) -> str:
        return str(self._token_url)

    async def get(self) -> str:
        """A valid access token; fetches one when none is cached or the cached one is due."""
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token.value
        async with self._lock:
            token = self._token  # another caller may have refreshed while we waited
            if token is not None and self._clock() < token.refresh_at:
                return token.value
            self._token = await self._fetch()
            return self._token.value

    async def invalidate(self, refused: str) -> None:
        """Forget ``refused`` (the API answered 401 invalid_token) unless it was already replaced."""
        async with self._lock:
            if self._token is not None and self._token.value == refused:
                self._token = None

    def _basic_auth(self) -> str:
        pair = f"{self._client_id.get_secret_value()}:{self._client_secret.get_secret_value()}"
        return "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    async def _fetch(self) -> AccessToken:
        form = {"grant_type": "client_credentials"}
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        self.fetch_count += 1
        response = await self._transport.request(
            "POST",
            self._token_url,
            operation="POST /oauth/token",
            data=form,
            headers={"Authorization": self._basic_auth()},
            token_endpoint=True,
        )
        body = response.body
        value = body.get("access_token") if isinstance(body, dict) else None
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise CredentialsError(
                f"the token endpoint {self._token_url} answered without an access_token",
                connection=self._transport.connection,
                correlation_id=response.correlation_id,
            )
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
            expires_in = 3600.0  # the field is required by RFC 6749 for this flow; be conservative
        scope = body.get("scope")
        now = self._clock()
        margin = min(MAX_REFRESH_MARGIN_SECONDS, float(expires_in) * REFRESH_MARGIN_FRACTION)
        return AccessToken(
            value=value,
            expires_at=now + float(expires_in),
            refresh_at=now + float(expires_in) - margin,
            scope=scope if isinstance(scope, str) else None,
        )
