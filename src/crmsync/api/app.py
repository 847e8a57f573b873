"""The HTTP API served by ``crmsync run`` (and the demo): health, status, bulk sync jobs, dead
letters, the sync log, metrics and ingress.

Thin over :class:`crmsync.service.Service`. Everything but ``/health`` requires the admin bearer
token from the config; the ingress instead accepts the optional ``http.ingress_token`` (as
``?token=`` — the way a Pub/Sub push endpoint carries a secret — or a Bearer header), because the
source system, not an operator, calls it.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from crmsync import __version__
from crmsync.api.erasure_routes import erasure_router
from crmsync.api.metrics import ServiceCollector
from crmsync.api.sync_routes import sync_router
from crmsync.errors import CrmsyncError, IngressError
from crmsync.service import Service

log = logging.getLogger("crmsync.api")


def _check(secret: SecretStr | None, supplied: str | None, what: str) -> None:
    if secret is None:
        raise HTTPException(status_code=403, detail=f"{what} is not configured (http.{what} in the config)")
    if not supplied or not hmac.compare_digest(supplied.encode(), secret.get_secret_value().encode()):
        raise HTTPException(status_code=401, detail="missing or wrong bearer token")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


LetterId = Annotated[int, FastPath(ge=1, le=2**63 - 1)]
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong bearer token"},
    403: {"description": "the token is not configured"},
}


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="crmsync", version=__version__, description="commerce <-> CRM sync engine")

    def admin(request: Request) -> None:
        _check(service.config.http.admin_token, _bearer(request), "admin_token")

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(sync_router(service), dependencies=[Depends(admin)], responses=AUTH_RESPONSES)
    app.include_router(erasure_router(service), dependencies=[Depends(admin)], responses=AUTH_RESPONSES)

    registry = CollectorRegistry()
    registry.register(ServiceCollector(service))

    @app.get(
        "/metrics",
        tags=["ops"],
        dependencies=[Depends(admin)],
        response_class=PlainTextResponse,
        responses={**AUTH_RESPONSES, 200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/status", tags=["ops"], dependencies=[Depends(admin)], responses=AUTH_RESPONSES)
    async def status() -> dict[str, Any]:
        return service.status()

    @app.get(
        "/dlq",
        tags=["dead letters"],
        dependencies=[Depends(admin)],
        responses={**AUTH_RESPONSES, 400: {"description": "unknown status"}},
    )
    async def dlq_list(
        status: Literal["open", "replayed", "discarded", "all"] = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Dead letters (``status``: open, replayed, discarded or all)."""
        try:
            letters = service.dlq_list(None if status == "all" else status, limit=limit)
        except CrmsyncError as exc:
            raise HTTPException(status_code=400, detail=exc.message) from None
        return [asdict(d) for d in letters]

    @app.get(
        "/dlq/{letter_id}",
        tags=["dead letters"],
        dependencies=[Depends(admin)],
        responses={**AUTH_RESPONSES, 404: {"description": "no such dead letter"}},
    )
    async def dlq_show(letter_id: LetterId) -> dict[str, Any]:
        letter = service.store.dlq_get(letter_id)
        if letter is None:
            raise HTTPException(status_code=404, detail=f"no dead letter {letter_id}")
        return {**asdict(letter), "requests": [asdict(e) for e in service.dlq_requests(letter)]}

    @app.post(
        "/dlq/{letter_id}/replay",
        tags=["dead letters"],
        dependencies=[Depends(admin)],
        responses={**AUTH_RESPONSES, 404: {"description": "no such dead letter"}},
    )
    async def dlq_replay(letter_id: LetterId) -> dict[str, Any]:
        """Send the record through the normal pipeline again (idempotent)."""
        if service.store.dlq_get(letter_id) is None:
            raise HTTPException(status_code=404, detail=f"no dead letter {letter_id}")
        result = await service.dlq_replay([letter_id])
        return {"id": letter_id, "result": result[letter_id]}

    @app.post(
        "/dlq/{letter_id}/discard",
        tags=["dead letters"],
        dependencies=[Depends(admin)],
        responses={**AUTH_RESPONSES, 404: {"description": "no such dead letter"}},
    )
    async def dlq_discard(letter_id: LetterId) -> dict[str, Any]:
        if service.store.dlq_get(letter_id) is None:
            raise HTTPException(status_code=404, detail=f"no dead letter {letter_id}")
        return {"id": letter_id, "discarded": service.dlq_discard([letter_id]) == 1}

    @app.get(
        "/log",
        tags=["sync log"],
        dependencies=[Depends(admin)],
        responses={
            **AUTH_RESPONSES,
            400: {"description": "a malformed record"},
        },
    )
    async def sync_log(
        correlation_id: Annotated[str | None, Query(max_length=256)] = None,
        record: Annotated[
            str | None, Query(max_length=300, pattern=r"^(customers?|orders?|categor(y|ies)|products?):.+$")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> list[dict[str, Any]]:
        """Outbound requests for a correlation id or a record (``record=customer:ID``); the latest without."""
        try:
            entries = service.log_entries(correlation_id=correlation_id, record=record, limit=limit)
        except CrmsyncError as exc:
            raise HTTPException(status_code=400, detail=exc.message) from None
        return [asdict(e) for e in entries]

    @app.post(
        "/ingress/{connection}",
        tags=["ingress"],
        responses={
            **AUTH_RESPONSES,
            400: {"description": "malformed payload (acknowledged: redelivery cannot help)"},
            404: {"description": "no ingress for this connection"},
            503: {"description": "storing failed: redeliver"},
        },
    )
    async def ingress(connection: str, request: Request) -> JSONResponse:
        """A pushed delivery (Google Pub/Sub push envelope, or a plain commercetools payload).

        2xx only after the events are durably stored; 400 with the precise reason for malformed
        input (acknowledged — redelivering it cannot help); 503 when storing failed, which asks the
        sender to redeliver.
        """
        token = service.config.http.ingress_token
        if token is not None:
            _check(token, request.query_params.get("token") or _bearer(request), "ingress_token")
        body = await request.body()
        try:
            stored = await service.ingest(connection, body, dict(request.headers))
        except IngressError as exc:
            return JSONResponse(
                {"error": "invalid_payload", "reason": exc.reason}, status_code=exc.status or 400
            )
        except Exception as exc:
            log.exception("ingress storage failed")
            return JSONResponse({"error": "unavailable", "reason": type(exc).__name__}, status_code=503)
        return JSONResponse({"stored": stored}, status_code=200)

    return app
