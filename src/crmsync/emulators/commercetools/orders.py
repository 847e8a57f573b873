"""Orders (``/orders``): imported (``POST /orders/import``) or placed from a Cart (``POST /orders``).

* ``OrderImportDraft`` → ``Order`` with ``OrderImported {order}``. The draft has no ``createdAt``, so
  ``createdAt`` is the import time; ``completedAt`` is kept as given; ``totalPrice`` / ``taxedPrice``
  are taken as given (an import does not recalculate). Defaults follow
  ``order-import-create.example.json``: ``orderState`` ``Open``, ``origin`` ``Customer``, ``taxMode``
  ``External``, ``inventoryMode`` ``None``, ``HalfEven`` / ``LineItemLevel``. Line items must name
  an existing product (``productId`` or the ``sku`` of a variant) — ``ReferencedResourceNotFound``
  otherwise — so every ``LineItem`` has ``productId`` and ``productType`` as the spec requires.
  ``shippingInfo`` is not modelled (400 ``InvalidOperation``).
* ``OrderFromCartDraft`` ``{cart: {typeId, id|key}, version, orderNumber?, …}``: ``version`` must be
  the cart's (409 ``ConcurrentModification`` naming the cart otherwise); the cart must be ``Active``,
  have line items and a shipping address (as the API reference requires) — else 400
  ``InvalidOperation``. The cart becomes ``Ordered`` (its own version step and change notification);
  the order writes ``OrderCreated {order}`` and carries ``cart: {typeId: "cart", id}``.
* ``orderNumber`` is unique (``DuplicateField``) and addresses ``/orders/order-number={n}``; it is the
  Messages' ``resourceUserProvidedIdentifiers``. ``lastMessageSequenceNumber`` follows the Messages.
* ``DELETE`` writes ``OrderDeleted {order}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors
from ._util import Clock, jcopy, new_id, normalize_datetime_literal
from .carts import CartRepository, address
from .custom_fields import custom_from_draft
from .customer_draft import References, check_email
from .line_items import custom_from_import, from_import
from .messages import Change, MessageLog
from .money import check_country, enum, money, money_draft, object_list, reference_id, string
from .payments import PaymentRepository
from .products import ProductRepository
from .repository import Payloads, Repository, run_actions, set_or_drop

ORDER_STATES = ("Open", "Confirmed", "Complete", "Cancelled")
SHIPMENT_STATES = ("Shipped", "Delivered", "Ready", "Pending", "Delayed", "Partial", "Backorder", "Canceled")
PAYMENT_STATES = ("BalanceDue", "Failed", "Pending", "CreditOwed", "Paid")
ORIGINS = ("Customer", "Merchant", "Quote", "RecurringOrder")
ORDER_FIELDS = (
    "id", "version", "createdAt", "lastModifiedAt", "lastModifiedBy", "createdBy", "orderNumber",
    "purchaseOrderNumber", "customerId", "customerEmail", "customerGroup", "anonymousId", "businessUnit",
    "store", "lineItems", "customLineItems", "totalPrice", "taxedPrice", "taxedShippingPrice",
    "discountOnTotalPrice", "priceRoundingMode", "taxMode", "taxRoundingMode", "taxCalculationMode",
    "inventoryMode", "billingAddress", "shippingAddress", "shippingMode", "shippingKey", "shippingInfo",
    "shippingRateInput", "shippingCustomFields", "shipping", "itemShippingAddresses", "discountCodes",
    "directDiscounts", "refusedGifts", "paymentInfo", "country", "locale", "origin", "cart", "quote",
    "recurringOrder", "orderState", "shipmentState", "paymentState", "state", "syncInfo", "returnInfo",
    "discountTypeCombination", "lastMessageSequenceNumber", "custom", "completedAt",
)  # fmt: skip
_FROM_CART = (
    "customerId", "customerEmail", "customerGroup", "anonymousId", "store", "lineItems", "customLineItems",
    "totalPrice", "taxedPrice", "priceRoundingMode", "taxMode", "taxRoundingMode", "taxCalculationMode",
    "inventoryMode", "billingAddress", "shippingAddress", "shippingMode", "shipping", "itemShippingAddresses",
    "discountCodes", "directDiscounts", "refusedGifts", "paymentInfo", "country", "locale", "origin",
)  # fmt: skip


def taxed_price_draft(draft: Any, where: str) -> dict[str, Any] | None:
    """A ``TaxedPriceDraft`` as ``TaxedPrice`` (``totalTax`` derived when not given)."""
    if draft is None:
        return None
    if not isinstance(draft, dict):
        raise errors.invalid_json(f"{where}: Expected a TaxedPriceDraft object")
    net = money_draft(draft.get("totalNet"), f"{where} -> totalNet")
    gross = money_draft(draft.get("totalGross"), f"{where} -> totalGross")
    portions = []
    for i, portion in enumerate(object_list(draft.get("taxPortions"), f"{where} -> taxPortions")):
        built: dict[str, Any] = {"rate": portion.get("rate", 0)}
        built["amount"] = money_draft(portion.get("amount"), f"{where} -> taxPortions -> {i} -> amount")
        set_or_drop(built, "name", portion.get("name"))
        portions.append(built)
    total_tax = money(net["currencyCode"], gross["centAmount"] - net["centAmount"])
    if draft.get("totalTax") is not None:
        total_tax = money_draft(draft["totalTax"], f"{where} -> totalTax")
    return {"totalNet": net, "totalGross": gross, "taxPortions": portions, "totalTax": total_tax}


class OrderRepository(Repository):
    type_id = "order"
    resource_name = "orders"
    key_field = "orderNumber"
    index_fields = ("id", "createdAt", "lastModifiedAt")

    def __init__(
        self,
        clock: Clock,
        messages: MessageLog,
        notify: Callable[[Change], None],
        *,
        refs: References,
        products: ProductRepository,
        carts: CartRepository,
        payments: PaymentRepository,
        customer_exists: Callable[[str], bool],
    ) -> None:
        super().__init__(clock, messages, notify, {name: None for name in ORDER_FIELDS})
        self.refs = refs
        self.products = products
        self.carts = carts
        self.payments = payments
        self.customer_exists = customer_exists

    def before_commit(self, resource: dict[str, Any], payloads: Payloads) -> None:
        resource["lastMessageSequenceNumber"] = self.messages.last_sequence(resource["id"]) + len(payloads)

    # -- references -------------------------------------------------------------------------------
    def check_customer(self, customer_id: str | None) -> None:
        if customer_id is not None and not self.customer_exists(customer_id):
            raise errors.referenced_resource_not_found("customer", id=customer_id)

    def payment_info(self, raw: Any, where: str) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise errors.invalid_json(f"{where}: Expected a PaymentInfo object")
        refs = []
        for i, item in enumerate(object_list(raw.get("payments"), f"{where} -> payments")):
            ref = {
                "typeId": "payment",
                "id": self.payments.resolve(item, f"{where} -> payments -> {i}")["id"],
            }
            if ref not in refs:
                refs.append(ref)
        return {"payments": refs}

    def import_line_item(self, draft: dict[str, Any], where: str) -> dict[str, Any]:
        given = draft.get("variant")
        if not isinstance(given, dict):
            raise errors.invalid_json(f"{where} -> variant: Missing required value")
        product_id, sku = (
            string(draft, "productId", f"{where} -> "),
            string(given, "sku", f"{where} -> variant -> "),
        )
        if product_id is None and sku is not None and sku in self.products.skus:
            product_id = self.products.skus[sku][0]
        product = self.products.get(product_id) if product_id is not None else None
        if product is None:
            if product_id is None:
                raise errors.invalid_operation(f"{where}: No product has a variant with the SKU '{sku}'.")
            raise errors.referenced_resource_not_found("product", id=product_id)
        data = product["masterData"]["current"]
        variants = [data["masterVariant"], *data["variants"]]
        variant = next(
            (v for v in variants if (sku is not None and v.get("sku") == sku) or v["id"] == given.get("id")),
            data["masterVariant"] if sku is None and given.get("id") is None else None,
        )
        if variant is None:
            raise errors.invalid_operation(f"{where}: The product '{product['id']}' has no such variant.")
        return from_import(product, variant, draft, where)

    # -- building ---------------------------------------------------------------------------------
    def build_import(self, draft: Any, actor: dict[str, Any], now: str) -> dict[str, Any]:
        if not isinstance(draft, dict):
            raise errors.invalid_json("Expected a JSON object (OrderImportDraft).")
        if draft.get("shippingInfo") is not None:
            raise errors.invalid_operation(
                "Importing shippingInfo is not supported by the commercetools emulator."
            )
        order = self.new_base(new_id(), actor, now)
        set_or_drop(order, "orderNumber", string(draft, "orderNumber"))
        set_or_drop(order, "purchaseOrderNumber", string(draft, "purchaseOrderNumber"))
        customer_id = string(draft, "customerId")
        self.check_customer(customer_id)
        set_or_drop(order, "customerId", customer_id)
        email = draft.get("customerEmail")
        set_or_drop(order, "customerEmail", None if email is None else check_email(email, "customer"))
        if draft.get("customerGroup") is not None:
            group = self.refs.customer_groups.id_of(draft["customerGroup"], "customerGroup")
            order["customerGroup"] = {"typeId": "customer-group", "id": group}
        if draft.get("businessUnit") is not None:
            ident, key = reference_id(draft["businessUnit"], "business-unit", "businessUnit")
            order["businessUnit"] = {"typeId": "business-unit", "key": key or ident}
        if draft.get("store") is not None:
            order["store"] = {"typeId": "store", "key": self.refs.stores.key_of(draft["store"], "store")}
        order["lineItems"] = [
            self.import_line_item(item, f"lineItems -> {i}")
            for i, item in enumerate(object_list(draft.get("lineItems"), "lineItems"))
        ]
        order["customLineItems"] = [
            custom_from_import(item, f"customLineItems -> {i}")
            for i, item in enumerate(object_list(draft.get("customLineItems"), "customLineItems"))
        ]
        order["totalPrice"] = money_draft(draft.get("totalPrice"), "totalPrice")
        set_or_drop(order, "taxedPrice", taxed_price_draft(draft.get("taxedPrice"), "taxedPrice"))
        set_or_drop(order, "priceRoundingMode", string(draft, "priceRoundingMode"))
        order["taxMode"] = "External"
        order["taxRoundingMode"] = string(draft, "taxRoundingMode") or "HalfEven"
        order["taxCalculationMode"] = string(draft, "taxCalculationMode") or "LineItemLevel"
        order["inventoryMode"] = string(draft, "inventoryMode") or "None"
        set_or_drop(
            order, "billingAddress", address(draft.get("billingAddress"), self.refs, "billingAddress")
        )
        set_or_drop(
            order, "shippingAddress", address(draft.get("shippingAddress"), self.refs, "shippingAddress")
        )
        order["shippingMode"] = "Single"
        order["shipping"] = []
        order["itemShippingAddresses"] = [
            address(a, self.refs, f"itemShippingAddresses -> {i}")
            for i, a in enumerate(object_list(draft.get("itemShippingAddresses"), "itemShippingAddresses"))
        ]
        order.update(discountCodes=[], directDiscounts=[], refusedGifts=[])
        set_or_drop(order, "paymentInfo", self.payment_info(draft.get("paymentInfo"), "paymentInfo"))
        set_or_drop(order, "country", check_country(draft.get("country"), "country"))
        order["origin"] = enum(draft.get("origin"), ORIGINS, "origin", required=False) or "Customer"
        self.states(order, draft)
        if draft.get("state") is not None:
            ident, key = reference_id(draft["state"], "state", "state")
            order["state"] = {"typeId": "state", "id": ident or str(key)}
        order["syncInfo"] = []
        order["returnInfo"] = []
        set_or_drop(order, "custom", custom_from_draft(self.refs.types, draft.get("custom"), "order"))
        completed = draft.get("completedAt")
        if completed is not None:
            normalized = normalize_datetime_literal(completed) if isinstance(completed, str) else None
            if normalized is None:
                raise errors.invalid_json(f"completedAt: Invalid date-time '{completed}'.")
            order["completedAt"] = normalized
        return order

    @staticmethod
    def states(order: dict[str, Any], draft: dict[str, Any]) -> None:
        order["orderState"] = (
            enum(draft.get("orderState"), ORDER_STATES, "orderState", required=False) or "Open"
        )
        set_or_drop(
            order,
            "shipmentState",
            enum(draft.get("shipmentState"), SHIPMENT_STATES, "shipmentState", required=False),
        )
        set_or_drop(
            order,
            "paymentState",
            enum(draft.get("paymentState"), PAYMENT_STATES, "paymentState", required=False),
        )

    # -- writes -----------------------------------------------------------------------------------
    def import_order(self, draft: Any, actor: dict[str, Any]) -> dict[str, Any]:
        order = self.build_import(draft, actor, self.clock.now_iso())
        return self.save_new(order, [("OrderImported", {"order": order})], actor)

    def from_cart(self, draft: Any, actor: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(draft, dict):
            raise errors.invalid_json("Expected a JSON object (OrderFromCartDraft).")
        raw_cart = draft.get("cart")
        if raw_cart is None and isinstance(draft.get("id"), str):
            raw_cart = {"typeId": "cart", "id": draft["id"]}  # the deprecated top-level ``id``
        ident, key = reference_id(raw_cart, "cart", "cart")
        cart = self.carts.get(ident) if ident is not None else self.carts.get_by_key(str(key))
        if cart is None:
            raise errors.referenced_resource_not_found("cart", id=ident, key=key if ident is None else None)
        self.carts.check_version(cart, draft.get("version"))
        if cart["cartState"] != "Active":
            state = cart["cartState"]
            raise errors.invalid_operation(
                f"The cart '{cart['id']}' is in state '{state}'; only an Active cart can be ordered."
            )
        if not cart["lineItems"] and not cart["customLineItems"]:
            raise errors.invalid_operation("An order can not be created from an empty cart.")
        if "shippingAddress" not in cart:
            raise errors.invalid_operation("The cart must have a shipping address set to create an order.")
        order = self.new_base(new_id(), actor)
        set_or_drop(order, "orderNumber", string(draft, "orderNumber"))
        set_or_drop(
            order,
            "purchaseOrderNumber",
            string(draft, "purchaseOrderNumber") or cart.get("purchaseOrderNumber"),
        )
        for name in _FROM_CART:
            if name in cart:
                order[name] = jcopy(cart[name])
        order["cart"] = {"typeId": "cart", "id": cart["id"]}
        self.states(order, draft)
        if draft.get("state") is not None:
            state_id, state_key = reference_id(draft["state"], "state", "state")
            order["state"] = {"typeId": "state", "id": state_id or str(state_key)}
        order["syncInfo"] = []
        order["returnInfo"] = []
        custom = custom_from_draft(self.refs.types, draft.get("custom"), "order") or cart.get("custom")
        set_or_drop(order, "custom", jcopy(custom))
        self.check_unique(order)
        created = self.save_new(order, [("OrderCreated", {"order": order})], actor)
        self.carts.mark_ordered(cart, actor)
        return created

    def update(
        self, ident: str, by_key: bool, version: Any, actions: Any, actor: dict[str, Any]
    ) -> dict[str, Any]:
        from .order_actions import HANDLERS, OrderContext

        current = self.require(ident, by_key)
        self.check_version(current, version)
        ctx = OrderContext(jcopy(current), self.clock.now_iso(), repo=self)
        run_actions(ctx, actions, HANDLERS, "orders")
        return self.save_update(current, ctx, actor)

    def delete(
        self, ident: str, by_key: bool, version: Any, actor: dict[str, Any], data_erasure: bool = False
    ) -> dict[str, Any]:
        current = self.require(ident, by_key)
        return self.save_delete(current, version, [("OrderDeleted", {"order": current})], actor, data_erasure)
