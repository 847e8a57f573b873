"""A deliberately small commercetools stand-in for unit tests of auth, retries and batching.

It speaks the real wire shapes (token response, error envelopes, paged results) but lets a test
script failures: revoke tokens, queue error responses, slow the token endpoint down.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

CLIENT_ID = "client-id-123"
CLIENT_SECRET = "s3cr3t-value-never-logged"
PROJECT = "proj"


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeCommercetools:
    expires_in: int = 172800
    token_delay: float = 0.0
    reject_every_token: bool = False
    tokens_issued: int = 0
    token_forms: list[dict[str, str]] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    scripted: list[Scripted] = field(default_factory=list)  # answered before the normal handler
    requests: list[web.Request] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def revoke_all(self) -> None:
        self.valid_tokens.clear()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/oauth/token", self._token)
        app.router.add_get(f"/{PROJECT}/customers", self._query)
        app.router.add_get(f"/{PROJECT}/customers/{{id}}", self._get)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_forms.append({k: str(v) for k, v in form.items()})
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            message = "Please provide valid client credentials using HTTP Basic Authentication."
            return web.json_response(
                {
                    "statusCode": 401,
                    "message": message,
                    "errors": [{"code": "invalid_client", "message": message}],
                    "error": "invalid_client",
                    "error_description": message,
                },
                status=401,
            )
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        self.tokens_issued += 1
        token = f"token-{self.tokens_issued}"
        self.valid_tokens.add(token)
        scope = form.get("scope", f"manage_project:{PROJECT}")
        return web.json_response(
            {"access_token": token, "expires_in": self.expires_in, "scope": scope, "token_type": "Bearer"}
        )

    def _authorised(self, request: web.Request) -> web.Response | None:
        self.requests.append(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.reject_every_token or token not in self.valid_tokens:
            return web.json_response(
                {
                    "statusCode": 401,
                    "message": "invalid_token",
                    "errors": [{"code": "invalid_token", "message": "invalid_token"}],
                    "error": "invalid_token",
                },
                status=401,
                headers={"X-Correlation-ID": "proj/auth-failed"},
            )
        if self.scripted:
            step = self.scripted.pop(0)
            return web.json_response(step.body, status=step.status, headers=step.headers)
        return None

    async def _get(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        customer = self.customers.get(request.match_info["id"])
        cid = request.headers.get("X-Correlation-ID", "proj/generated")
        if customer is None:
            message = f"The Resource with ID '{request.match_info['id']}' was not found."
            return web.json_response(
                {
                    "statusCode": 404,
                    "message": message,
                    "errors": [{"code": "ResourceNotFound", "message": message}],
                },
                status=404,
                headers={"X-Correlation-ID": cid},
            )
        return web.json_response(customer, headers={"X-Correlation-ID": cid})

    async def _query(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        where = request.query.get("where", "")
        limit = int(request.query.get("limit", "20"))
        if where.startswith("id in ("):
            wanted = re.findall(r'"((?:[^"\\]|\\.)*)"', where)
            results = [self.customers[i] for i in sorted(set(wanted)) if i in self.customers]
        else:
            results = sorted(self.customers.values(), key=lambda c: c["id"])
        results = results[:limit]
        return web.json_response({"limit": limit, "offset": 0, "count": len(results), "results": results})


@asynccontextmanager
async def serve(fake: FakeCommercetools) -> AsyncIterator[str]:
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
