"""Fault injection for the commercetools emulator: error rendering and the delivery control endpoint.

Injected failures use the platform's error envelope, as the live API sends them (the spec's
``errorable_5xx`` responses): 500 ``General``, 502 ``BadGateway``, 503 ``OverCapacity``, other 5xx
``General``. The Composable Commerce HTTP API publishes no request-rate limit and no 429 error code,
so an injected 429 carries the envelope with ``General`` (a code the spec's discriminator knows)
and a ``Retry-After`` header. Every injected response has an ``X-Correlation-ID`` like the real ones.

``GET /__emulator/delivery`` shows the subscription-delivery knobs and counters;
``PUT /__emulator/delivery {"duplicate_rate": .., "reorder_rate": ..}`` changes either at run time
(409 when the emulator has no ``subscription_url``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..faults import ADMIN_PREFIX, AdminInputError, Renderer, admin_error, admin_json, read_admin_object
from .errors import CtApiError
from .http_app import correlation_id_of, error_response

if TYPE_CHECKING:
    from .emulator import CommercetoolsEmulator

DELIVERY_PATH = ADMIN_PREFIX + "/delivery"

_SERVER_ERRORS: dict[int, tuple[str, str]] = {
    500: ("General", "Internal server error."),
    502: ("BadGateway", "Bad gateway. Please retry the request with exponential backoff."),
    503: (
        "OverCapacity",
        "The service is having trouble handling the load. Please retry the request with exponential backoff.",
    ),
}


def fault_error(status: int, retry_after: int | None) -> CtApiError:
    """The platform error an injected fault with this status is rendered as."""
    if status == 429:
        seconds = retry_after if retry_after is not None else 1
        return CtApiError(
            429,
            "General",
            f"Too many requests. Please retry after {seconds} second{'s' if seconds != 1 else ''}.",
            headers={"Retry-After": str(seconds)},
        )
    code, message = _SERVER_ERRORS.get(status, ("General", "The server could not handle the request."))
    return CtApiError(status, code, message)


def renderer(project_key: str) -> Renderer:
    def render(request: web.Request, status: int, retry_after: int | None) -> web.StreamResponse:
        response = error_response(fault_error(status, retry_after), head=request.method == "HEAD")
        response.headers["X-Correlation-ID"] = correlation_id_of(request, project_key)
        return response

    return render


def add_delivery_admin(app: web.Application, emulator: CommercetoolsEmulator) -> None:
    def state() -> dict[str, Any]:
        delivery = emulator.delivery
        if delivery is None:
            return {"enabled": False}
        return {
            "enabled": True,
            "url": delivery.url,
            "duplicate_rate": delivery.duplicate_rate,
            "reorder_rate": delivery.reorder_rate,
            "outstanding": delivery.outstanding,
            "stats": asdict(delivery.stats),
        }

    async def get_delivery(_request: web.Request) -> web.Response:
        return admin_json(state())

    async def put_delivery(request: web.Request) -> web.Response:
        body = await read_admin_object(request)
        unknown = sorted(set(body) - {"duplicate_rate", "reorder_rate"})
        if unknown:
            raise AdminInputError(f"unknown field(s) {unknown}; known: ['duplicate_rate', 'reorder_rate']")
        if emulator.delivery is None:
            return admin_error(
                409, "no_subscription", "this emulator has no subscription_url, so nothing is delivered"
            )
        try:
            emulator.set_delivery_faults(
                duplicate_rate=body.get("duplicate_rate"), reorder_rate=body.get("reorder_rate")
            )
        except ValueError as exc:
            raise AdminInputError(str(exc)) from None
        return admin_json(state())

    app.router.add_route("GET", DELIVERY_PATH, get_delivery)
    app.router.add_route("PUT", DELIVERY_PATH, put_delivery)
