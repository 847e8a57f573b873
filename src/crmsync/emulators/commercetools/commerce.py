"""The commerce resources of the emulator (orders, carts, payments, categories, products) and their
direct Python API, mirroring the HTTP API like ``create_customer`` does.

Every direct call goes through the same repositories as the HTTP API under the emulator's lock, so it
produces the same versions, Messages and change notifications; results are deep copies. The
``orders`` / ``carts`` / ``payments`` / ``categories`` / ``products`` properties are read-only live
views ``id -> resource`` (do not mutate the values).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from ._util import Clock, jcopy
from .carts import CartRepository
from .categories import CategoryRepository
from .customer_draft import References
from .customers import CustomerRepository
from .messages import Change, MessageLog
from .orders import OrderRepository
from .payments import PaymentRepository
from .product_types import ProductTypeRegistry
from .products import ProductRepository

if TYPE_CHECKING:
    from .emulator import CommercetoolsEmulator

DIRECT_ACTOR = {"clientId": "emulator-direct-access", "isPlatformClient": False}


class CommerceMixin:
    """Mixed into :class:`.emulator.CommercetoolsEmulator`."""

    lock: threading.RLock
    clock: Clock
    refs: References
    repo: CustomerRepository
    _messages: MessageLog
    _on_change: Callable[[Change], None]

    def _init_commerce(self) -> None:
        def customer_exists(customer_id: str) -> bool:
            return customer_id in self.repo.by_id

        clock, log, notify = self.clock, self._messages, self._on_change
        self.product_types = ProductTypeRegistry(clock)
        self.category_repo = CategoryRepository(clock, log, notify, self.refs.types)
        self.product_repo = ProductRepository(
            clock,
            log,
            notify,
            types=self.refs.types,
            product_types=self.product_types,
            categories=self.category_repo,
        )
        self.payment_repo = PaymentRepository(
            clock, log, notify, types=self.refs.types, customer_exists=customer_exists
        )
        self.cart_repo = CartRepository(
            clock,
            log,
            notify,
            refs=self.refs,
            products=self.product_repo,
            payments=self.payment_repo,
            customer_exists=customer_exists,
        )
        self.order_repo = OrderRepository(
            clock,
            log,
            notify,
            refs=self.refs,
            products=self.product_repo,
            carts=self.cart_repo,
            payments=self.payment_repo,
            customer_exists=customer_exists,
        )

    # -- orders -----------------------------------------------------------------------------------
    def import_order(self, draft: dict[str, Any]) -> dict[str, Any]:
        """``POST /orders/import`` with an OrderImportDraft; returns the Order."""
        with self.lock:
            return jcopy(self.order_repo.import_order(draft, DIRECT_ACTOR))

    def order_from_cart(self, cart_id: str, version: int, **fields: Any) -> dict[str, Any]:
        """``POST /orders`` (OrderFromCartDraft); ``fields`` are its optional fields (``orderNumber`` …)."""
        draft = {"cart": {"typeId": "cart", "id": cart_id}, "version": version, **fields}
        with self.lock:
            return jcopy(self.order_repo.from_cart(draft, DIRECT_ACTOR))

    def update_order(self, id: str, version: int, actions: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.order_repo.update(id, False, version, actions, DIRECT_ACTOR))

    def delete_order(self, id: str, version: int, data_erasure: bool = False) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.order_repo.delete(id, False, version, DIRECT_ACTOR, data_erasure))

    def get_order(self, id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.order_repo.get(id)
            return jcopy(found) if found is not None else None

    # -- carts ------------------------------------------------------------------------------------
    def create_cart(self, draft: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.cart_repo.create(draft, DIRECT_ACTOR))

    def update_cart(self, id: str, version: int, actions: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.cart_repo.update(id, False, version, actions, DIRECT_ACTOR))

    # -- payments ---------------------------------------------------------------------------------
    def create_payment(self, draft: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.payment_repo.create(draft, DIRECT_ACTOR))

    def update_payment(self, id: str, version: int, actions: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.payment_repo.update(id, False, version, actions, DIRECT_ACTOR))

    # -- categories -------------------------------------------------------------------------------
    def create_category(self, draft: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.category_repo.create(draft, DIRECT_ACTOR))

    def update_category(self, id: str, version: int, actions: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.category_repo.update(id, False, version, actions, DIRECT_ACTOR))

    def delete_category(self, id: str, version: int) -> dict[str, Any]:
        """Deletes the category and its subcategories (one ``ResourceDeleted`` each)."""
        with self.lock:
            return jcopy(self.category_repo.delete(id, False, version, DIRECT_ACTOR))

    # -- products ---------------------------------------------------------------------------------
    def create_product(self, draft: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.product_repo.create(draft, DIRECT_ACTOR))

    def update_product(self, id: str, version: int, actions: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.product_repo.update(id, False, version, actions, DIRECT_ACTOR))

    def delete_product(self, id: str, version: int) -> dict[str, Any]:
        with self.lock:
            return jcopy(self.product_repo.delete(id, False, version, DIRECT_ACTOR))

    def product_projection(self, id: str, staged: bool = False) -> dict[str, Any] | None:
        """The current (published) or staged projection, as ``GET /product-projections/{id}``."""
        with self.lock:
            found = (self.product_repo.staged if staged else self.product_repo.current).get(id)
            return jcopy(found) if found is not None else None

    # -- read-only views --------------------------------------------------------------------------
    def resolve_reference(self, type_id: str, ident: str) -> dict[str, Any] | None:
        """The resource a Reference points at, for ``expand`` (None: not modelled or gone)."""
        repos: dict[str, Any] = {
            "payment": self.payment_repo,
            "category": self.category_repo,
            "product": self.product_repo,
            "cart": self.cart_repo,
            "order": self.order_repo,
        }
        repo = repos.get(type_id)
        return repo.get(ident) if repo is not None else None

    @property
    def orders(self) -> Mapping[str, dict[str, Any]]:
        return MappingProxyType(self.order_repo.by_id)

    @property
    def carts(self) -> Mapping[str, dict[str, Any]]:
        return MappingProxyType(self.cart_repo.by_id)

    @property
    def payments(self) -> Mapping[str, dict[str, Any]]:
        return MappingProxyType(self.payment_repo.by_id)

    @property
    def categories(self) -> Mapping[str, dict[str, Any]]:
        return MappingProxyType(self.category_repo.by_id)

    @property
    def products(self) -> Mapping[str, dict[str, Any]]:
        return MappingProxyType(self.product_repo.by_id)

    # -- seeding ----------------------------------------------------------------------------------
    def seed_catalog(self, categories: int = 40, products: int = 200, seed: int = 7) -> dict[str, int]:
        """Deterministic 3-level category tree and published products (EUR/GBP/USD prices, images)."""
        from .catalog_seed import seed_catalog

        with self.lock:
            return seed_catalog(self.category_repo, self.product_repo, categories, products, seed)

    def seed_orders(
        self, n: int, seed: int = 11, *, guest_share: float = 0.2, messages: bool = True
    ) -> dict[str, int]:
        """``n`` imported orders for the seeded customers (plus guest orders), a spread of states.

        Needs products (``seed_catalog`` first). ``messages=False`` skips Messages and change
        notifications for a pure bulk load. Returns counts of what was created.
        """
        from .order_seed import seed_orders

        with self.lock:
            emulator = cast("CommercetoolsEmulator", self)
            return seed_orders(emulator, n, seed, guest_share=guest_share, messages=messages)
