"""The aiohttp application: route table, and the one middleware every ``/api`` request crosses.

Order of checks (as on the real API): authentication (401), ``revision`` header (400), body media
type (415), rate limit (429, ``Retry-After``), then the handler. Every failure — including aiohttp's
own 404/405/413 — leaves as a JSON:API error document. Successful and failed (non-429) responses
carry ``RateLimit-Limit/Remaining/Reset``. Each request is appended to the request log.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

from aiohttp import web

from crmsync.emulators.klaviyo import (
    routes_catalog,
    routes_catalog_jobs,
    routes_catalog_relationships,
    routes_event_jobs,
    routes_events,
    routes_jobs,
    routes_lists,
    routes_privacy,
    routes_profiles,
    routes_subscriptions,
    routes_suppressions,
)
from crmsync.emulators.klaviyo.context import CTX, MB, Context, RequestRecord
from crmsync.emulators.klaviyo.errors import ApiError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_items = "/api/catalog-items/{id}"
_categories = "/api/catalog-categories/{id}"
_rel = routes_catalog_relationships
CATALOG_ROUTES: tuple[tuple[str, str, str, Handler], ...] = (
    ("GET", "/api/catalog-items", "get_catalog_items", routes_catalog.get_catalog_items),
    ("POST", "/api/catalog-items", "create_catalog_item", routes_catalog.create_catalog_item),
    ("GET", _items, "get_catalog_item", routes_catalog.get_catalog_item),
    ("PATCH", _items, "update_catalog_item", routes_catalog.update_catalog_item),
    ("DELETE", _items, "delete_catalog_item", routes_catalog.delete_catalog_item),
    ("GET", "/api/catalog-categories", "get_catalog_categories", routes_catalog.get_catalog_categories),
    ("POST", "/api/catalog-categories", "create_catalog_category", routes_catalog.create_catalog_category),
    ("GET", _categories, "get_catalog_category", routes_catalog.get_catalog_category),
    ("PATCH", _categories, "update_catalog_category", routes_catalog.update_catalog_category),
    ("DELETE", _categories, "delete_catalog_category", routes_catalog.delete_catalog_category),
    ("GET", f"{_categories}/items", "get_items_for_catalog_category", _rel.get_items_for_catalog_category),
    (
        "GET",
        f"{_categories}/relationships/items",
        "get_item_ids_for_catalog_category",
        _rel.get_item_ids_for_catalog_category,
    ),
    (
        "POST",
        f"{_categories}/relationships/items",
        "add_items_to_catalog_category",
        _rel.add_items_to_catalog_category,
    ),
    (
        "PATCH",
        f"{_categories}/relationships/items",
        "update_items_for_catalog_category",
        _rel.update_items_for_catalog_category,
    ),
    (
        "DELETE",
        f"{_categories}/relationships/items",
        "remove_items_from_catalog_category",
        _rel.remove_items_from_catalog_category,
    ),
    ("GET", f"{_items}/categories", "get_categories_for_catalog_item", _rel.get_categories_for_catalog_item),
    (
        "GET",
        f"{_items}/relationships/categories",
        "get_category_ids_for_catalog_item",
        _rel.get_category_ids_for_catalog_item,
    ),
    (
        "POST",
        f"{_items}/relationships/categories",
        "add_categories_to_catalog_item",
        _rel.add_categories_to_catalog_item,
    ),
    (
        "PATCH",
        f"{_items}/relationships/categories",
        "update_categories_for_catalog_item",
        _rel.update_categories_for_catalog_item,
    ),
    (
        "DELETE",
        f"{_items}/relationships/categories",
        "remove_categories_from_catalog_item",
        _rel.remove_categories_from_catalog_item,
    ),
)

#: (method, path template, operationId, handler) — operation ids as in the spec (rate-limit keys).
ROUTES: tuple[tuple[str, str, str, Handler], ...] = (
    ("GET", "/api/profiles", "get_profiles", routes_profiles.get_profiles),
    ("POST", "/api/profiles", "create_profile", routes_profiles.create_profile),
    ("GET", "/api/profiles/{id}", "get_profile", routes_profiles.get_profile),
    ("PATCH", "/api/profiles/{id}", "update_profile", routes_profiles.update_profile),
    ("POST", "/api/profile-import", "create_or_update_profile", routes_profiles.create_or_update_profile),
    (
        "GET",
        "/api/profile-bulk-import-jobs",
        "get_bulk_import_profiles_jobs",
        routes_jobs.get_bulk_import_profiles_jobs,
    ),
    ("POST", "/api/profile-bulk-import-jobs", "bulk_import_profiles", routes_jobs.bulk_import_profiles),
    (
        "GET",
        "/api/profile-bulk-import-jobs/{job_id}",
        "get_bulk_import_profiles_job",
        routes_jobs.get_bulk_import_profiles_job,
    ),
    (
        "GET",
        "/api/profile-bulk-import-jobs/{id}/import-errors",
        "get_errors_for_bulk_import_profiles_job",
        routes_jobs.get_errors_for_bulk_import_profiles_job,
    ),
    (
        "GET",
        "/api/profile-bulk-import-jobs/{id}/profiles",
        "get_profiles_for_bulk_import_profiles_job",
        routes_jobs.get_profiles_for_bulk_import_profiles_job,
    ),
    ("GET", "/api/events", "get_events", routes_events.get_events),
    ("POST", "/api/events", "create_event", routes_events.create_event),
    ("POST", "/api/event-bulk-create-jobs", "bulk_create_events", routes_event_jobs.bulk_create_events),
    ("GET", "/api/events/{id}", "get_event", routes_events.get_event),
    ("GET", "/api/metrics", "get_metrics", routes_events.get_metrics),
    ("GET", "/api/metrics/{id}", "get_metric", routes_events.get_metric),
    ("GET", "/api/lists", "get_lists", routes_lists.get_lists),
    ("POST", "/api/lists", "create_list", routes_lists.create_list),
    ("GET", "/api/lists/{id}", "get_list", routes_lists.get_list),
    ("GET", "/api/lists/{id}/profiles", "get_profiles_for_list", routes_lists.get_profiles_for_list),
    (
        "GET",
        "/api/lists/{id}/relationships/profiles",
        "get_profile_ids_for_list",
        routes_lists.get_profile_ids_for_list,
    ),
    (
        "POST",
        "/api/lists/{id}/relationships/profiles",
        "add_profiles_to_list",
        routes_lists.add_profiles_to_list,
    ),
    (
        "DELETE",
        "/api/lists/{id}/relationships/profiles",
        "remove_profiles_from_list",
        routes_lists.remove_profiles_from_list,
    ),
    *CATALOG_ROUTES,
    *routes_catalog_jobs.ROUTES,
    (
        "POST",
        "/api/profile-subscription-bulk-create-jobs",
        "bulk_subscribe_profiles",
        routes_subscriptions.bulk_subscribe_profiles,
    ),
    (
        "POST",
        "/api/profile-subscription-bulk-delete-jobs",
        "bulk_unsubscribe_profiles",
        routes_subscriptions.bulk_unsubscribe_profiles,
    ),
    *routes_suppressions.ROUTES,
    (
        "POST",
        "/api/data-privacy-deletion-jobs",
        "request_profile_deletion",
        routes_privacy.request_profile_deletion,
    ),
)
OPERATIONS: dict[tuple[str, str], str] = {(method, path): op for method, path, op, _ in ROUTES}

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
BODY_TYPES = ("application/vnd.api+json", "application/json")
#: The largest documented payload (bulk jobs, events); aiohttp refuses anything bigger with 413.
MAX_BODY = 5 * MB
#: Revisions are release dates; the first GA revision, and the newest one a client may send
#: (klaviyo-api 25.0.0 sends 2026-10-15, later than the spec copy's 2026-07-15).
FIRST_REVISION = date(2022, 10, 17)
NEWEST_KNOWN_REVISION = date(2026, 10, 15)
_REVISION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(\.[a-z]+)?$")


def authenticate(request: web.Request) -> str:
    """Return the rate-limit account key; 401 ``not_authenticated`` for a missing/malformed header."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme == "Klaviyo-API-Key" and credential.startswith("pk_") and len(credential) > 3:
        return credential
    if scheme == "Bearer" and credential:
        return credential
    raise ApiError(401, "not_authenticated", "Missing or invalid private key.", pointer="/data/")


def check_revision(request: web.Request) -> None:
    raw = request.headers.get("revision")
    if raw is None or not raw.strip():
        raise ApiError(
            400,
            "invalid",
            "A 'revision' header (YYYY-MM-DD) is required on every request.",
            parameter="revision",
        )
    match = _REVISION.match(raw.strip())
    moment: date | None = None
    if match is not None:
        try:
            moment = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            moment = None
    newest = max(NEWEST_KNOWN_REVISION, datetime.now(UTC).date())
    if moment is None or not FIRST_REVISION <= moment <= newest:
        raise ApiError(
            400, "invalid", f"Invalid revision {raw!r}: not a known API revision.", parameter="revision"
        )


def check_media_type(request: web.Request) -> None:
    if not request.content_length and not request.body_exists:
        return
    media = request.content_type
    if media not in BODY_TYPES:
        raise ApiError(415, "unsupported_media_type", f'Unsupported media type "{media}" in request.')


def throttled(retry_after: int) -> ApiError:
    unit = "second" if retry_after == 1 else "seconds"
    return ApiError(
        429,
        "throttled",
        f"Request was throttled. Expected available in {retry_after} {unit}.",
        headers={"Retry-After": str(retry_after)},
    )


def from_http_exception(exc: web.HTTPException) -> ApiError:
    if exc.status == 404:
        return ApiError(404, "not_found", "Not found.")
    if exc.status == 405:
        return ApiError(405, "method_not_allowed", "Method not allowed for this endpoint.")
    if exc.status == 413:
        return ApiError(413, "request_too_large", "The maximum allowed payload size is 5MB.", pointer="/data")
    return ApiError(exc.status, "error", exc.reason or "Request failed.")


def operation_of(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return OPERATIONS.get((request.method, resource.canonical.rstrip("/")))


@web.middleware
async def klaviyo_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request.app[CTX]
    started, wall = time.monotonic(), time.time()
    operation = operation_of(request)
    limit_headers: dict[str, str] | None = None
    response: web.StreamResponse
    try:
        if request.path.startswith("/api/"):
            account = authenticate(request)
            check_revision(request)
            if request.method in WRITE_METHODS:
                check_media_type(request)
            if ctx.rate_limits and operation is not None:
                decision = ctx.limiter.hit(account, operation)
                if decision is not None:
                    if not decision.allowed:
                        raise throttled(decision.retry_after)
                    limit_headers = decision.headers()
        response = await handler(request)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        response = from_http_exception(exc).response()
    except Exception:
        log.exception("klaviyo emulator: unhandled error on %s %s", request.method, request.path)
        response = ApiError(500, "error", "A server error occurred.").response()
    if limit_headers is not None and response.status != 429:  # a 429 carries only Retry-After
        response.headers.update(limit_headers)
    record(ctx, request, operation, response.status, started, wall)
    return response


def record(
    ctx: Context, request: web.Request, operation: str | None, status: int, started: float, wall: float
) -> None:
    ctx.request_log.append(
        RequestRecord(
            method=request.method,
            path=request.path,
            operation_id=operation,
            status=status,
            at=started,
            received_at=wall,
            duration=time.monotonic() - started,
            body_size=request.content_length or 0,
            correlation_id=request.headers.get("X-Correlation-Id") or request.headers.get("X-Request-Id"),
        )
    )
    ctx.counts[(operation, status)] += 1
    if 200 <= status < 300 and request.method in WRITE_METHODS and request.path.startswith("/api/"):
        ctx.writes += 1


def build_app(ctx: Context) -> web.Application:
    app = web.Application(middlewares=[klaviyo_middleware], client_max_size=MAX_BODY)
    app[CTX] = ctx
    by_path: dict[str, list[tuple[str, Handler]]] = {}
    for method, path, _, handler in ROUTES:
        by_path.setdefault(path, []).append((method, handler))
    for path, methods in by_path.items():
        for variant in (path, path + "/"):  # Klaviyo answers with and without the trailing slash
            resource = app.router.add_resource(variant)
            for method, handler in methods:
                resource.add_route(method, handler)

    async def _cancel_jobs(_: web.Application) -> None:
        await ctx.jobs.cancel_all()

    app.on_cleanup.append(_cancel_jobs)
    return app
