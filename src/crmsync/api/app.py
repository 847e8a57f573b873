"""The HTTP API served by ``crmsync run`` (and the demo): health, status, ingress.

Thin over :class:`crmsync.service.Service`. Everything but ``/health`` requires the admin bearer
token from the config; the ingress instead accepts the optional ``http.ingress_token`` (as
``?token=`` — the way a Pub/Sub push endpoint carries a secret — or a Bearer header), because the
source system, not an operator, calls it.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from crmsync import __version__
from crmsync.api.metrics import ServiceCollector
from crmsync.errors import IngressError
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


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="crmsync", version=__version__, description="commerce <-> CRM sync engine")

    def admin(request: Request) -> None:
        _check(service.config.http.admin_token, _bearer(request), "admin_token")

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    registry = CollectorRegistry()
    registry.register(ServiceCollector(service))

    @app.get("/metrics", tags=["ops"], dependencies=[Depends(admin)])
    async def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/status", tags=["ops"], dependencies=[Depends(admin)])
    async def status() -> dict[str, Any]:
        return service.status()

    @app.post("/ingress/{connection}", tags=["ingress"])
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
