"""HTTP routes of the commerce resources: ``/orders``, ``/carts``, ``/payments``, ``/categories``,
``/products``, ``/product-projections`` and ``/product-types`` under ``/{projectKey}``.

Each resource has the platform's standard endpoints (``api.raml`` / the OpenAPI paths): ``GET`` (paged
query: ``where`` / ``sort`` / ``limit`` / ``offset`` / ``withTotal``) and ``HEAD`` on the collection,
``POST`` to create (201), and ``GET`` / ``HEAD`` / ``POST`` (update actions) / ``DELETE?version=`` on
``/{id}`` and ``/key={key}`` (orders: ``/order-number={orderNumber}``). Scopes follow the spec's
``securedBy``: orders and carts ``view_orders`` / ``manage_orders``, payments ``view_payments`` /
``manage_payments``, categories ``view_categories`` / ``view_products`` (+ ``manage_*``), products
``view_products`` / ``manage_products``, published projections also ``view_published_products``;
``manage_project`` allows everything. ``expand`` resolves references the emulator models (see
:mod:`.expansion`); price selection parameters are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import errors
from .expansion import expand
from .http_app import bool_param, int_param, json_body, json_response
from .querying import Collection, execute, exists
from .repository import Repository

if TYPE_CHECKING:
    from .http_app import Routes

Actor = dict[str, Any]
ORDERS = (("view_orders", "manage_orders", "manage_project"), ("manage_orders", "manage_project"))
PAYMENTS = (("view_payments", "manage_payments", "manage_project"), ("manage_payments", "manage_project"))
CATEGORIES = (
    ("view_categories", "view_products", "manage_categories", "manage_products", "manage_project"),
    ("manage_categories", "manage_products", "manage_project"),
)
PRODUCTS = (("view_products", "manage_products", "manage_project"), ("manage_products", "manage_project"))
PUBLISHED = ("view_published_products", "view_products", "manage_products", "manage_project")


@dataclass
class ResourceRoutes:
    """The standard endpoints of one resource type."""

    routes: Routes
    plural: str
    scopes: tuple[tuple[str, ...], tuple[str, ...]]
    repo: Callable[[], Repository]
    create: Callable[[Any, Actor], dict[str, Any]]
    update: Callable[[str, bool, Any, Any, Actor], dict[str, Any]]
    delete: Callable[[str, bool, Any, Actor, bool], dict[str, Any]]
    key_prefix: str = "key="

    def split(self, request: web.Request) -> tuple[str, bool]:
        ident = request.match_info["ident"]
        if ident.startswith(self.key_prefix):
            return ident[len(self.key_prefix) :], True
        return ident, False

    async def query(self, request: web.Request) -> web.Response:
        self.routes.auth(request, self.scopes[0])
        params = self.routes.params(request)
        with self.routes.emu.lock:
            collection = self.repo().collection()
            if request.method == "HEAD":
                return web.Response(status=200 if exists(collection, params) else 404)
            paths = request.query.getall("expand", [])
            return json_response(execute(collection, params, lambda item: self.expand(item, paths)))

    async def post_new(self, request: web.Request) -> web.Response:
        actor = self.routes.auth(request, self.scopes[1])
        draft = await json_body(request)
        with self.routes.emu.lock:
            return json_response(self.create(draft, actor), 201)

    async def get(self, request: web.Request) -> web.Response:
        self.routes.auth(request, self.scopes[0])
        ident, by_key = self.split(request)
        with self.routes.emu.lock:
            found = self.repo().require(ident, by_key)
            if request.method == "HEAD":
                return web.Response(status=200)
            return json_response(self.expand(found, request.query.getall("expand", [])))

    def expand(self, item: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        if not paths:
            return item
        return expand(item, paths, self.routes.emu.resolve_reference)

    async def post_update(self, request: web.Request) -> web.Response:
        actor = self.routes.auth(request, self.scopes[1])
        ident, by_key = self.split(request)
        body = await json_body(request)
        if not isinstance(body, dict):
            raise errors.invalid_json("Expected a JSON object (update request).")
        with self.routes.emu.lock:
            return json_response(self.update(ident, by_key, body.get("version"), body.get("actions"), actor))

    async def delete_one(self, request: web.Request) -> web.Response:
        actor = self.routes.auth(request, self.scopes[1])
        ident, by_key = self.split(request)
        version = int_param(request, "version", required=True)
        erase = bool_param(request, "dataErasure")
        with self.routes.emu.lock:
            return json_response(self.delete(ident, by_key, version, actor, erase))

    def register(self, app: web.Application, project: str) -> None:
        add = app.router.add_route
        base = f"{project}/{self.plural}"
        add("GET", base, self.query)
        add("HEAD", base, self.query)
        add("POST", base, self.post_new)
        for method, handler in (
            ("GET", self.get),
            ("HEAD", self.get),
            ("POST", self.post_update),
            ("DELETE", self.delete_one),
        ):
            add(method, base + "/{ident}", handler)


def _staged(request: web.Request) -> bool:
    return bool_param(request, "staged")


def add_commerce_routes(app: web.Application, routes: Routes) -> None:
    emu = routes.emu
    project = "/{projectKey}"
    orders = emu.order_repo
    # ``POST /orders/import`` must be matched before ``POST /orders/{ident}``.

    async def import_order(request: web.Request) -> web.Response:
        actor = routes.auth(request, ORDERS[1])
        draft = await json_body(request)
        with emu.lock:
            return json_response(orders.import_order(draft, actor), 201)

    app.router.add_route("POST", project + "/orders/import", import_order)
    specs = [
        ResourceRoutes(
            routes, "orders", ORDERS, lambda: emu.order_repo, orders.from_cart, orders.update,
            lambda i, k, v, a, e: orders.delete(i, k, v, a, e), key_prefix="order-number=",
        ),
        ResourceRoutes(
            routes, "carts", ORDERS, lambda: emu.cart_repo, emu.cart_repo.create, emu.cart_repo.update,
            lambda i, k, v, a, e: emu.cart_repo.delete(i, k, v, a, e),
        ),
        ResourceRoutes(
            routes, "payments", PAYMENTS, lambda: emu.payment_repo, emu.payment_repo.create,
            emu.payment_repo.update, lambda i, k, v, a, e: emu.payment_repo.delete(i, k, v, a, e),
        ),
        ResourceRoutes(
            routes, "categories", CATEGORIES, lambda: emu.category_repo, emu.category_repo.create,
            emu.category_repo.update, lambda i, k, v, a, _e: emu.category_repo.delete(i, k, v, a),
        ),
        ResourceRoutes(
            routes, "products", PRODUCTS, lambda: emu.product_repo, emu.product_repo.create,
            emu.product_repo.update, lambda i, k, v, a, _e: emu.product_repo.delete(i, k, v, a),
        ),
    ]  # fmt: skip
    for spec in specs:
        spec.register(app, project)
    add_catalog_reads(app, routes, project)


def add_catalog_reads(app: web.Application, routes: Routes, project: str) -> None:
    """``/product-projections`` (read-only) and ``/product-types``."""
    emu = routes.emu

    def projection_scopes(request: web.Request) -> tuple[str, ...]:
        return PRODUCTS[0] if _staged(request) else PUBLISHED

    async def query_projections(request: web.Request) -> web.Response:
        routes.auth(request, projection_scopes(request))
        params = routes.params(request)
        with emu.lock:
            collection: Collection = emu.product_repo.projections(_staged(request))
            if request.method == "HEAD":
                return web.Response(status=200 if exists(collection, params) else 404)
            return json_response(execute(collection, params, lambda item: item))

    async def get_projection(request: web.Request) -> web.Response:
        routes.auth(request, projection_scopes(request))
        ident = request.match_info["ident"]
        by_key = ident.startswith("key=")
        with emu.lock:
            found = emu.product_repo.require_projection(
                ident[4:] if by_key else ident, by_key, _staged(request)
            )
            return web.Response(status=200) if request.method == "HEAD" else json_response(found)

    async def query_product_types(request: web.Request) -> web.Response:
        routes.auth(request, PRODUCTS[0])
        params = routes.params(request)
        with emu.lock:
            return json_response(execute(emu.product_types.collection(), params, lambda item: item))

    async def create_product_type(request: web.Request) -> web.Response:
        actor = routes.auth(request, PRODUCTS[1])
        draft = await json_body(request)
        with emu.lock:
            return json_response(emu.product_types.create(draft, actor), 201)

    async def get_product_type(request: web.Request) -> web.Response:
        routes.auth(request, PRODUCTS[0])
        ident = request.match_info["ident"]
        by_key = ident.startswith("key=")
        with emu.lock:
            return json_response(emu.product_types.require(ident[4:] if by_key else ident, by_key))

    add = app.router.add_route
    for method in ("GET", "HEAD"):
        add(method, project + "/product-projections", query_projections)
        add(method, project + "/product-projections/{ident}", get_projection)
    add("GET", project + "/product-types", query_product_types)
    add("POST", project + "/product-types", create_product_type)
    add("GET", project + "/product-types/{ident}", get_product_type)
