"""aiohttp routes of the emulator: ``/oauth/*`` (auth service) and ``/{projectKey}/*`` (HTTP API);
the commerce resources' routes are in :mod:`.commerce_routes`.

A middleware gives every response an ``X-Correlation-ID`` (the client's, echoed, or a new one),
renders every failure — including unknown routes, wrong methods and malformed JSON — in the
platform's error envelope, and records ``(method, path, status, monotonic time)`` in the request log.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import errors
from .auth import Token
from .querying import QueryParams, execute, exists, parse_int, parse_query_params

if TYPE_CHECKING:
    from .emulator import CommercetoolsEmulator

log = logging.getLogger(__name__)

CUSTOMERS_READ = ("view_customers", "manage_customers", "manage_project")
CUSTOMERS_WRITE = ("manage_customers", "manage_project")
MESSAGES_READ = ("view_messages", "manage_project", "view_orders")
OBJECTS_READ = ("view_key_value_documents", "manage_key_value_documents", "manage_project")
OBJECTS_WRITE = ("manage_key_value_documents", "manage_project")
TYPES_READ = ("view_types", "manage_types", "manage_project")
TYPES_WRITE = ("manage_types", "manage_project")
PROJECT_READ = ("view_project_settings", "manage_project_settings", "manage_project")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return web.Response(
        text=text, status=status, content_type="application/json", charset="utf-8", headers=headers
    )


def error_response(error: errors.CtApiError, head: bool = False) -> web.Response:
    if head:
        return web.Response(status=error.status, headers=error.headers)
    return json_response(error.body(), error.status, error.headers)


async def json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise errors.invalid_json("No content to map due to end-of-input.")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.invalid_json(f"Malformed JSON: {exc}") from None


def int_param(request: web.Request, name: str, required: bool) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        if required:
            raise errors.malformed_parameter(name, "Missing required value.")
        return None
    return parse_int(name, raw)


def bool_param(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise errors.malformed_parameter(name, f"Invalid boolean value '{raw}'.")
    return raw == "true"


def correlation_id_of(request: web.Request, project_key: str) -> str:
    """The client's ``X-Correlation-ID``, echoed, or a new one in the platform's format."""
    return request.headers.get("X-Correlation-ID") or f"projects-{project_key}-{uuid.uuid4()}"


def split_ident(ident: str) -> tuple[str, bool]:
    """``{id}`` or ``key={key}`` path segment → ``(value, by_key)``."""
    return (ident[4:], True) if ident.startswith("key=") else (ident, False)


class Routes:
    """Request handlers; all state access goes through the emulator under its lock."""

    def __init__(self, emulator: CommercetoolsEmulator) -> None:
        self.emu = emulator

    # -- plumbing ----------------------------------------------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        correlation_id = correlation_id_of(request, self.emu.project_key)
        head = request.method == "HEAD"
        response: web.StreamResponse
        try:
            response = await handler(request)
        except errors.CtApiError as exc:
            response = error_response(exc, head)
        except web.HTTPMethodNotAllowed as exc:
            allowed = sorted(exc.allowed_methods)
            response = error_response(errors.method_not_allowed(request.method, request.path, allowed), head)
        except web.HTTPNotFound:
            response = error_response(errors.endpoint_not_found(request.path), head)
        except web.HTTPRequestEntityTooLarge:
            error = errors.CtApiError(413, "ContentTooLarge", "The request body is larger than 16 MB.")
            response = error_response(error, head)
        except web.HTTPException as exc:
            response = error_response(errors.CtApiError(exc.status, "General", exc.reason), head)
        except Exception:
            log.exception("commercetools emulator: unhandled error on %s %s", request.method, request.path)
            response = error_response(errors.CtApiError(500, "General", "Internal server error."), head)
        response.headers["X-Correlation-ID"] = correlation_id
        self.emu.log_request(request.method, request.path, response.status)
        return response

    def auth(self, request: web.Request, scopes: tuple[str, ...]) -> dict[str, Any]:
        """Authenticate the bearer token and check its scopes; returns the actor for ``createdBy``."""
        token: Token = self.emu.tokens.authenticate(request.headers.get("Authorization"))
        self.emu.tokens.require(token, request.match_info["projectKey"], scopes)
        return {"clientId": token.client_id, "isPlatformClient": False}

    def params(self, request: web.Request) -> QueryParams:
        return parse_query_params(request.query, lambda name: request.query.getall(name, []))

    # -- auth service ------------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        form = await request.post() if request.can_read_body else {}
        grant_type = form.get("grant_type") or request.query.get("grant_type")
        scope = form.get("scope") or request.query.get("scope")
        body = self.emu.tokens.issue(
            request.headers.get("Authorization"),
            grant_type if isinstance(grant_type, str) else None,
            scope if isinstance(scope, str) else None,
        )
        return json_response(body)

    async def introspect(self, request: web.Request) -> web.Response:
        form = await request.post() if request.can_read_body else {}
        value = form.get("token") or request.query.get("token")
        body = self.emu.tokens.introspect(
            request.headers.get("Authorization"), value if isinstance(value, str) else None
        )
        return json_response(body)

    # -- project -----------------------------------------------------------------------------------
    async def project(self, request: web.Request) -> web.Response:
        self.auth(request, PROJECT_READ)
        return json_response(self.emu.project())

    # -- customers ---------------------------------------------------------------------------------
    async def query_customers(self, request: web.Request) -> web.Response:
        self.auth(request, CUSTOMERS_READ)
        params = self.params(request)
        lowercase = any("lowercaseEmail" in w for w in params.where)
        with self.emu.lock:
            return json_response(
                execute(self.emu.repo.collection(with_lowercase_email=lowercase), params, lambda c: c)
            )

    async def head_customers(self, request: web.Request) -> web.Response:
        self.auth(request, CUSTOMERS_READ)
        params = self.params(request)
        lowercase = any("lowercaseEmail" in w for w in params.where)
        with self.emu.lock:
            found = exists(self.emu.repo.collection(with_lowercase_email=lowercase), params)
        return web.Response(status=200 if found else 404)

    async def create_customer(self, request: web.Request) -> web.Response:
        actor = self.auth(request, CUSTOMERS_WRITE)
        draft = await json_body(request)
        with self.emu.lock:
            return json_response({"customer": self.emu.repo.create(draft, actor)}, 201)

    async def get_customer(self, request: web.Request) -> web.Response:
        self.auth(request, CUSTOMERS_READ)
        ident, by_key = split_ident(request.match_info["ident"])
        with self.emu.lock:
            customer = self.emu.repo.require(ident, by_key)
            if request.method == "HEAD":
                return web.Response(status=200)
            return json_response(customer)

    async def update_customer(self, request: web.Request) -> web.Response:
        actor = self.auth(request, CUSTOMERS_WRITE)
        ident, by_key = split_ident(request.match_info["ident"])
        body = await json_body(request)
        if not isinstance(body, dict):
            raise errors.invalid_json("Expected a JSON object (CustomerUpdate).")
        with self.emu.lock:
            return json_response(
                self.emu.repo.update(ident, by_key, body.get("version"), body.get("actions"), actor)
            )

    async def delete_customer(self, request: web.Request) -> web.Response:
        actor = self.auth(request, CUSTOMERS_WRITE)
        ident, by_key = split_ident(request.match_info["ident"])
        version = int_param(request, "version", required=True)
        erase = bool_param(request, "dataErasure")
        with self.emu.lock:
            return json_response(self.emu.repo.delete(ident, by_key, version, erase, actor))

    # -- messages ----------------------------------------------------------------------------------
    async def query_messages(self, request: web.Request) -> web.Response:
        self.auth(request, MESSAGES_READ)
        params = self.params(request)
        with self.emu.lock:
            collection = self.emu.message_log.collection()
            if request.method == "HEAD":
                return web.Response(status=200 if exists(collection, params) else 404)
            return json_response(execute(collection, params, lambda m: m))

    async def get_message(self, request: web.Request) -> web.Response:
        self.auth(request, MESSAGES_READ)
        message_id = request.match_info["id"]
        with self.emu.lock:
            message = self.emu.message_log.get(message_id)
        if message is None:
            raise errors.resource_not_found(message_id)
        return web.Response(status=200) if request.method == "HEAD" else json_response(message)

    # -- custom objects ----------------------------------------------------------------------------
    async def upsert_custom_object(self, request: web.Request) -> web.Response:
        actor = self.auth(request, OBJECTS_WRITE)
        draft = await json_body(request)
        with self.emu.lock:
            obj, created = self.emu.custom_objects.upsert(draft, actor)
            return json_response(obj, 201 if created else 200)

    async def query_custom_objects(self, request: web.Request) -> web.Response:
        self.auth(request, OBJECTS_READ)
        params = self.params(request)
        container = request.match_info.get("container")
        with self.emu.lock:
            return json_response(execute(self.emu.custom_objects.collection(container), params, lambda o: o))

    async def get_custom_object(self, request: web.Request) -> web.Response:
        self.auth(request, OBJECTS_READ)
        with self.emu.lock:
            obj = self.emu.custom_objects.require(request.match_info["container"], request.match_info["key"])
            return json_response(obj)

    async def delete_custom_object(self, request: web.Request) -> web.Response:
        self.auth(request, OBJECTS_WRITE)
        version = int_param(request, "version", required=False)
        bool_param(request, "dataErasure")
        with self.emu.lock:
            obj = self.emu.custom_objects.delete(
                request.match_info["container"], request.match_info["key"], version
            )
            return json_response(obj)

    # -- types -------------------------------------------------------------------------------------
    async def create_type(self, request: web.Request) -> web.Response:
        actor = self.auth(request, TYPES_WRITE)
        draft = await json_body(request)
        with self.emu.lock:
            return json_response(self.emu.refs.types.create(draft, actor), 201)

    async def query_types(self, request: web.Request) -> web.Response:
        self.auth(request, TYPES_READ)
        params = self.params(request)
        with self.emu.lock:
            return json_response(execute(self.emu.refs.types.collection(), params, lambda t: t))

    async def get_type(self, request: web.Request) -> web.Response:
        self.auth(request, TYPES_READ)
        ident, by_key = split_ident(request.match_info["ident"])
        with self.emu.lock:
            found = self.emu.refs.types.get_by_key(ident) if by_key else self.emu.refs.types.get(ident)
        if found is None:
            raise errors.resource_not_found(ident, by="key" if by_key else "ID")
        return json_response(found)


def build_app(emulator: CommercetoolsEmulator) -> web.Application:
    routes = Routes(emulator)
    app = web.Application(middlewares=[routes.middleware], client_max_size=16 * 1024 * 1024)
    add = app.router.add_route
    add("POST", "/oauth/token", routes.token)
    add("POST", "/oauth/introspect", routes.introspect)
    project = "/{projectKey}"
    add("GET", project, routes.project)
    add("GET", project + "/customers", routes.query_customers)
    add("HEAD", project + "/customers", routes.head_customers)
    add("POST", project + "/customers", routes.create_customer)
    for method, handler in (
        ("GET", routes.get_customer),
        ("HEAD", routes.get_customer),
        ("POST", routes.update_customer),
        ("DELETE", routes.delete_customer),
    ):
        add(method, project + "/customers/{ident}", handler)
    add("GET", project + "/messages", routes.query_messages)
    add("HEAD", project + "/messages", routes.query_messages)
    add("GET", project + "/messages/{id}", routes.get_message)
    add("HEAD", project + "/messages/{id}", routes.get_message)
    add("GET", project + "/custom-objects", routes.query_custom_objects)
    add("POST", project + "/custom-objects", routes.upsert_custom_object)
    add("GET", project + "/custom-objects/{container}", routes.query_custom_objects)
    add("GET", project + "/custom-objects/{container}/{key}", routes.get_custom_object)
    add("DELETE", project + "/custom-objects/{container}/{key}", routes.delete_custom_object)
    add("GET", project + "/types", routes.query_types)
    add("POST", project + "/types", routes.create_type)
    add("GET", project + "/types/{ident}", routes.get_type)
    from .commerce_routes import add_commerce_routes

    add_commerce_routes(app, routes)
    return app
