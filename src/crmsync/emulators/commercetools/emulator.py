"""The commercetools emulator: one project's state, its HTTP app, subscription delivery, direct access.

Direct state access (``create_customer`` …) goes through the same repository as the HTTP API, so it
produces the same versions, Messages and change notifications. All state is guarded by one lock, so
tests may call the direct API from their own thread while the server runs in a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from .._runtime import EmulatorServer
from ..faults import FaultInjector, FaultPlan
from ._util import Clock, jcopy
from .auth import TokenStore
from .commerce import DIRECT_ACTOR, CommerceMixin
from .custom_objects import CustomObjectStore
from .customer_draft import References
from .customers import CustomerRepository
from .delivery import DeliveryStats, SubscriptionDelivery
from .messages import Change, MessageLog
from .references import KeyedReferences, TypeRegistry

log = logging.getLogger(__name__)

DEFAULT_STORES = ("eu-store", "uk-store", "us-store")
PROJECT_LANGUAGES = ["en", "en-GB", "en-US", "de", "de-DE", "fr", "fr-FR", "sv", "sv-SE", "nl", "nl-NL"]


class CommercetoolsEmulator(CommerceMixin):
    """A faithful local commercetools Composable Commerce API for one project: customers, orders,
    carts, payments, categories, products (see :mod:`.commerce` for their direct API), messages,
    custom objects and types.

    ``subscription_url`` turns on push delivery (Pub/Sub envelope) of every Message and change
    notification; ``duplicate_rate`` / ``reorder_rate`` (0..1) make that delivery duplicate and
    reorder like the real chain; ``seed`` makes those choices repeatable.

    ``faults`` injects failures into the HTTP API (see :mod:`crmsync.emulators.faults`); switch them
    at run time with ``set_faults`` / ``clear_faults`` or ``PUT/DELETE /__emulator/faults``, and the
    delivery knobs with ``set_delivery_faults`` or ``PUT /__emulator/delivery``. ``/oauth/*`` is only
    faulted when a plan lists it in ``paths``. The ``/__emulator/*`` paths exist only on the emulator.
    """

    def __init__(
        self,
        project_key: str = "demo",
        *,
        subscription_url: str | None = None,
        subscription_format: str = "Platform",
        duplicate_rate: float = 0.0,
        reorder_rate: float = 0.0,
        seed: int | None = None,
        max_payload_bytes: int | None = None,
        delivery_concurrency: int = 1,
        retry_backoff: tuple[float, float] = (0.05, 1.0),
        stores: tuple[str, ...] = DEFAULT_STORES,
        faults: FaultPlan | None = None,
    ) -> None:
        self.project_key = project_key
        self.lock = threading.RLock()
        self.clock = Clock()
        self.tokens = TokenStore(project_key)
        self.refs = References(
            types=TypeRegistry(self.clock),
            stores=KeyedReferences("store", stores),
            customer_groups=KeyedReferences("customer-group"),
        )
        self._messages = MessageLog()
        self.delivery: SubscriptionDelivery | None = None
        if subscription_url is not None:
            self.delivery = SubscriptionDelivery(
                subscription_url,
                project_key,
                payload_format=subscription_format,
                duplicate_rate=duplicate_rate,
                reorder_rate=reorder_rate,
                seed=seed,
                max_payload_bytes=max_payload_bytes,
                retry_backoff=retry_backoff,
                concurrency=delivery_concurrency,
            )
        self.repo = CustomerRepository(self.clock, self.refs, self._messages, self._on_change)
        self._init_commerce()
        self.custom_objects = CustomObjectStore(self.clock)
        self.created_at = self.clock.now_iso()
        self.request_log: list[tuple[str, str, int, float]] = []
        self._server: EmulatorServer | None = None
        self.fault_injector = FaultInjector(faults, api_prefixes=("/",), opt_in_prefixes=("/oauth/",))

    # -- HTTP server -------------------------------------------------------------------------------
    def app(self) -> web.Application:
        """A fresh aiohttp application serving ``/oauth/*`` and ``/{projectKey}/*``."""
        from .fault_wiring import add_delivery_admin, renderer
        from .http_app import build_app

        application = build_app(self)
        self.fault_injector.install(
            application,
            renderer(self.project_key),
            lambda request, status: self.log_request(request.method, request.path, status),
        )
        add_delivery_admin(application, self)
        application.on_startup.append(self._on_startup)
        application.on_cleanup.append(self._on_cleanup)
        return application

    async def _on_startup(self, _app: web.Application) -> None:
        if self.delivery is not None:
            await self.delivery.start()

    async def _on_cleanup(self, _app: web.Application) -> None:
        if self.delivery is not None:
            await self.delivery.stop()

    async def start(self, port: int = 0) -> str:
        self._server = EmulatorServer(self.app, port)
        return await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    def start_in_thread(self, port: int = 0) -> str:
        self._server = EmulatorServer(self.app, port)
        return self._server.start_in_thread()

    def stop_thread(self) -> None:
        if self._server is not None:
            self._server.stop_thread()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return self._server.base_url

    # -- fault injection ---------------------------------------------------------------------------
    def set_faults(self, plan: FaultPlan) -> None:
        """Inject ``plan``'s failures from the next request on (the seed restarts, storms from now)."""
        self.fault_injector.set_plan(plan)

    def clear_faults(self) -> None:
        self.fault_injector.clear()

    @property
    def fault_plan(self) -> FaultPlan:
        return self.fault_injector.plan

    @property
    def fault_stats(self) -> dict[str, int]:
        return self.fault_injector.stats

    def set_delivery_faults(
        self, *, duplicate_rate: float | None = None, reorder_rate: float | None = None
    ) -> None:
        """Change the subscription delivery's duplicate / reorder shares at run time (None keeps one)."""
        if self.delivery is None:
            raise RuntimeError("this emulator has no subscription_url, so there is no delivery to change")
        self.delivery.set_rates(duplicate_rate=duplicate_rate, reorder_rate=reorder_rate)

    # -- subscription delivery ---------------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        if self.delivery is not None:
            self.delivery.enqueue_change(change)

    async def drain_deliveries(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - public API
        """Wait until every pushed Message / change notification was acknowledged by the receiver."""
        if self.delivery is not None:
            await self.delivery.drain(timeout)

    @property
    def delivery_stats(self) -> DeliveryStats | None:
        return self.delivery.stats if self.delivery is not None else None

    # -- direct state access -----------------------------------------------------------------------
    def create_customer(self, draft: dict[str, Any]) -> dict[str, Any]:
        """Create a customer from a CustomerDraft; returns the Customer (as ``POST /customers``)."""
        with self.lock:
            return jcopy(self.repo.create(draft, DIRECT_ACTOR))

    def update_customer(self, id: str, version: int, actions: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.repo.update(id, False, version, actions, DIRECT_ACTOR))

    def delete_customer(self, id: str, version: int, data_erasure: bool = False) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.repo.delete(id, False, version, data_erasure, DIRECT_ACTOR))

    def get_customer(self, id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.repo.get(id)
            return jcopy(found) if found is not None else None

    @property
    def customers(self) -> Mapping[str, dict[str, Any]]:
        """Read-only live view ``id -> Customer`` (do not mutate the values)."""
        return MappingProxyType(self.repo.by_id)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """All Messages in creation order (a snapshot list)."""
        with self.lock:
            return self._messages.all()

    @property
    def message_log(self) -> MessageLog:
        return self._messages

    def expire_tokens(self) -> None:
        """Invalidate all issued access tokens: the next API call answers 401 ``invalid_token``."""
        self.tokens.expire_all()

    # -- request log -------------------------------------------------------------------------------
    def log_request(self, method: str, path: str, status: int) -> None:
        self.request_log.append((method, path, status, time.monotonic()))

    def request_count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        return sum(
            1
            for m, p, _, _ in list(self.request_log)
            if (method is None or m == method.upper()) and (path_prefix is None or p.startswith(path_prefix))
        )

    def project(self) -> dict[str, Any]:
        return {
            "key": self.project_key,
            "name": self.project_key,
            "countries": ["DE", "GB", "FR", "US", "SE", "NL"],
            "currencies": ["EUR", "GBP", "USD", "SEK"],
            "languages": list(PROJECT_LANGUAGES),
            "createdAt": self.created_at,
            "messages": {"enabled": True, "deleteDaysAfterCreation": 15},
            "carts": {"countryTaxRateFallbackEnabled": False, "deleteDaysAfterLastModification": 90},
            "shoppingLists": {"deleteDaysAfterLastModification": 360},
            "discounts": {"discountCombinationMode": "Stacking"},
            "inventory": {"releaseExpiredReservations": False},
            "version": 1,
        }


async def serve(port: int, project_key: str = "demo", **kwargs: Any) -> None:
    """Run the emulator on 127.0.0.1:``port`` until cancelled (``crmsync emulate commercetools``)."""
    emulator = CommercetoolsEmulator(project_key, **kwargs)
    base_url = await emulator.start(port)
    log.info("commercetools emulator for project %r listening on %s", project_key, base_url)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
    finally:
        await emulator.stop()
