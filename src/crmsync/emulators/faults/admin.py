"""Emulator-only control endpoints below ``/__emulator`` (no real vendor has them).

``GET /__emulator/faults`` → ``{"active", "plan", "stats"}``; ``PUT`` with a JSON object of plan
fields replaces the plan (fields left out take their defaults; 400 with the reason on bad input);
``DELETE`` clears it. The fault middleware calls these handlers directly, past the vendor middleware:
no auth, no rate limit, no vendor envelope, no request-log entry. Bodies are plain JSON and errors
are ``{"error": code, "detail": reason}`` — deliberately not a vendor format, so they can never be
mistaken for API answers.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .plan import ADMIN_PREFIX, FaultPlan, FaultPlanError

if TYPE_CHECKING:
    from .injector import FaultInjector

FAULTS_PATH = ADMIN_PREFIX + "/faults"


class AdminInputError(Exception):
    """A bad admin request body; rendered as 400 ``{"error": "invalid_input", "detail": ...}``."""


def admin_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def admin_error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return admin_json({"error": code, "detail": detail}, status, headers)


async def read_admin_object(request: web.Request) -> dict[str, Any]:
    """The JSON object body of an admin request, or ``AdminInputError`` saying what is wrong."""
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdminInputError(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise AdminInputError("body must be a JSON object")
    return body


async def admin_dispatch(request: web.Request) -> web.StreamResponse:
    """Run the matched admin handler; routing failures and bad input become JSON errors.

    Only routes registered below ``/__emulator/`` run here: a vendor route that happens to match
    (commercetools' ``/{projectKey}`` matches ``/__emulator``) answers 404 instead.
    """
    match = request.match_info
    resource = match.route.resource
    if resource is not None and not resource.canonical.startswith(ADMIN_PREFIX + "/"):
        return admin_error(404, "not_found", f"no emulator control endpoint at {request.path}")
    try:
        return await match.handler(request)
    except AdminInputError as exc:
        return admin_error(400, "invalid_input", str(exc))
    except web.HTTPMethodNotAllowed as exc:
        allowed = sorted(exc.allowed_methods)
        return admin_error(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}",
            {"Allow": ", ".join(allowed)},
        )
    except web.HTTPException as exc:
        return admin_error(exc.status, "not_found" if exc.status == 404 else "error", exc.reason)


def add_admin_routes(app: web.Application, injector: FaultInjector) -> None:
    def state() -> dict[str, Any]:
        plan = injector.plan
        return {"active": plan.active, "plan": plan.to_dict(), "stats": injector.stats}

    async def get_faults(_request: web.Request) -> web.Response:
        return admin_json(state())

    async def put_faults(request: web.Request) -> web.Response:
        body = await read_admin_object(request)
        try:
            plan = FaultPlan.from_mapping(body)
        except FaultPlanError as exc:
            raise AdminInputError(str(exc)) from None
        injector.set_plan(plan)
        return admin_json(state())

    async def delete_faults(_request: web.Request) -> web.Response:
        injector.clear()
        return admin_json(state())

    app.router.add_route("GET", FAULTS_PATH, get_faults)
    app.router.add_route("PUT", FAULTS_PATH, put_faults)
    app.router.add_route("DELETE", FAULTS_PATH, delete_faults)
