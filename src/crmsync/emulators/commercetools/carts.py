"""Carts (``/carts``), as far as placing Orders needs them.

``CartDraft`` → ``Cart`` (``cart.example.json`` shape, ``cartState: "Active"``), line items priced
from the published product data (:mod:`.line_items`), ``totalPrice`` the sum of the line items.
Carts write no Messages for these actions (the spec has Cart Messages only for freezing, locking …),
so changes are seen only as change notifications.

Supported: ``taxMode`` ``Platform`` (no tax categories are modelled, so no taxes are computed),
``External`` (``externalTaxRate`` per line item) and ``Disabled``. Not modelled, answered with 400
``InvalidOperation`` naming the feature rather than faked: ``ExternalAmount`` tax mode, custom line
items, shipping methods and multiple shipping. Discount codes: the project has none, so every code is
400 ``DiscountCodeNonApplicable`` with ``reason: "DoesNotExist"``, as the platform answers for an
unknown code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors
from ._util import Clock, jcopy, new_id
from .custom_fields import custom_from_draft, set_custom_field, set_custom_type
from .customer_draft import References, build_address, check_email, check_locale
from .line_items import from_variant, reprice, tax_rate, totals
from .messages import Change, MessageLog
from .money import check_country, check_currency, enum, integer, object_list, string
from .payments import PaymentRepository
from .products import ProductRepository
from .references import KEY_MESSAGE, KEY_PATTERN
from .repository import ActionContext, Handler, Repository, run_actions, set_or_drop

TAX_MODES = ("Platform", "External", "ExternalAmount", "Disabled")
CART_FIELDS = (
    "id", "version", "key", "createdAt", "lastModifiedAt", "lastModifiedBy", "createdBy", "customerId",
    "customerEmail", "customerGroup", "anonymousId", "store", "lineItems", "cartState", "totalPrice",
    "taxedPrice", "shippingAddress", "billingAddress", "shippingMode", "shipping", "customLineItems",
    "discountCodes", "directDiscounts", "inventoryMode", "taxMode", "priceRoundingMode", "taxRoundingMode",
    "taxCalculationMode", "refusedGifts", "origin", "itemShippingAddresses", "country", "locale",
    "totalLineItemQuantity", "paymentInfo", "custom",
)  # fmt: skip
_UNSUPPORTED_DRAFT = {
    "customLineItems": "Custom line items",
    "shippingMethod": "Shipping methods",
    "customShipping": "Custom shipping",
    "shipping": "Multiple shipping",
    "itemShippingAddresses": "Item shipping addresses",
}


def unsupported(feature: str) -> errors.CtApiError:
    return errors.invalid_operation(f"{feature} are not supported by the commercetools emulator.")


def no_such_discount_code(code: str) -> errors.CtApiError:
    return errors.CtApiError(
        400,
        "DiscountCodeNonApplicable",
        f"The discount code '{code}' was not found.",
        discountCode=code,
        reason="DoesNotExist",
    )


def address(raw: Any, refs: References, where: str) -> dict[str, Any] | None:
    """A cart/order address: a ``BaseAddress`` draft, without a generated id."""
    if raw is None:
        return None
    built = build_address(raw, refs, where)
    if not (isinstance(raw, dict) and raw.get("id")):
        built.pop("id")
    return built


def recalculate(cart: dict[str, Any]) -> None:
    totals(cart, cart["totalPrice"]["currencyCode"])
    quantity = sum(item["quantity"] for item in cart["lineItems"])
    set_or_drop(cart, "totalLineItemQuantity", quantity or None)


class CartRepository(Repository):
    type_id = "cart"
    resource_name = "carts"

    def __init__(
        self,
        clock: Clock,
        messages: MessageLog,
        notify: Callable[[Change], None],
        *,
        refs: References,
        products: ProductRepository,
        payments: PaymentRepository,
        customer_exists: Callable[[str], bool],
    ) -> None:
        super().__init__(clock, messages, notify, {name: None for name in CART_FIELDS})
        self.refs = refs
        self.products = products
        self.payments = payments
        self.customer_exists = customer_exists

    def check_customer(self, customer_id: str | None) -> None:
        if customer_id is not None and not self.customer_exists(customer_id):
            raise errors.referenced_resource_not_found("customer", id=customer_id)

    def line_item(self, cart: dict[str, Any], draft: dict[str, Any], where: str, now: str) -> dict[str, Any]:
        product, variant = self.products.line_item_variant(
            string(draft, "productId", f"{where} -> "),
            integer(draft, "variantId", f"{where} -> "),
            string(draft, "sku", f"{where} -> "),
            where,
        )
        if draft.get("externalTaxRate") is not None and cart["taxMode"] != "External":
            raise errors.invalid_operation(
                f"{where}: An external tax rate needs the cart's taxMode 'External'."
            )
        return from_variant(
            product,
            variant,
            draft,
            currency=cart["totalPrice"]["currencyCode"],
            country=cart.get("country"),
            now=now,
            where=where,
        )

    def create(self, draft: Any, actor: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(draft, dict):
            raise errors.invalid_json("Expected a JSON object (CartDraft).")
        for name, feature in _UNSUPPORTED_DRAFT.items():
            if draft.get(name):
                raise unsupported(feature)
        for code in draft.get("discountCodes") or []:
            raise no_such_discount_code(str(code))
        now = self.clock.now_iso()
        currency = check_currency(draft.get("currency"), "currency")
        tax_mode = enum(draft.get("taxMode"), TAX_MODES, "taxMode", required=False) or "Platform"
        if tax_mode == "ExternalAmount":
            raise unsupported("Carts with taxMode 'ExternalAmount'")
        cart = self.new_base(new_id(), actor, now)
        key = string(draft, "key")
        if key is not None and not KEY_PATTERN.match(key):
            raise errors.invalid_field("key", key, KEY_MESSAGE)
        set_or_drop(cart, "key", key)
        customer_id = string(draft, "customerId")
        self.check_customer(customer_id)
        set_or_drop(cart, "customerId", customer_id)
        email = draft.get("customerEmail")
        set_or_drop(cart, "customerEmail", None if email is None else check_email(email, "customer"))
        if draft.get("customerGroup") is not None:
            group = self.refs.customer_groups.id_of(draft["customerGroup"], "customerGroup")
            cart["customerGroup"] = {"typeId": "customer-group", "id": group}
        set_or_drop(cart, "anonymousId", string(draft, "anonymousId"))
        if draft.get("store") is not None:
            cart["store"] = {"typeId": "store", "key": self.refs.stores.key_of(draft["store"], "store")}
        cart.update(
            lineItems=[],
            cartState="Active",
            totalPrice={"currencyCode": currency, "centAmount": 0},
            shippingMode="Single",
            shipping=[],
            customLineItems=[],
            discountCodes=[],
            directDiscounts=[],
            inventoryMode=string(draft, "inventoryMode") or "None",
            taxMode=tax_mode,
            priceRoundingMode=string(draft, "priceRoundingMode") or "HalfEven",
            taxRoundingMode=string(draft, "taxRoundingMode") or "HalfEven",
            taxCalculationMode=string(draft, "taxCalculationMode") or "LineItemLevel",
            refusedGifts=[],
            origin=string(draft, "origin") or "Customer",
            itemShippingAddresses=[],
        )
        set_or_drop(
            cart, "shippingAddress", address(draft.get("shippingAddress"), self.refs, "shippingAddress")
        )
        set_or_drop(cart, "billingAddress", address(draft.get("billingAddress"), self.refs, "billingAddress"))
        set_or_drop(cart, "country", check_country(draft.get("country"), "country"))
        locale = string(draft, "locale")
        check_locale(locale)
        set_or_drop(cart, "locale", locale)
        set_or_drop(cart, "custom", custom_from_draft(self.refs.types, draft.get("custom"), "order"))
        for i, item in enumerate(object_list(draft.get("lineItems"), "lineItems")):
            add_or_merge(cart, self.line_item(cart, item, f"lineItems -> {i}", now))
        recalculate(cart)
        return self.save_new(cart, [], actor)

    def update(
        self, ident: str, by_key: bool, version: Any, actions: Any, actor: dict[str, Any]
    ) -> dict[str, Any]:
        current = self.require(ident, by_key)
        self.check_version(current, version)
        ctx = CartContext(jcopy(current), self.clock.now_iso(), repo=self)
        run_actions(ctx, actions, HANDLERS, "carts")
        recalculate(ctx.resource)
        return self.save_update(current, ctx, actor)

    def delete(
        self, ident: str, by_key: bool, version: Any, actor: dict[str, Any], data_erasure: bool = False
    ) -> dict[str, Any]:
        return self.save_delete(self.require(ident, by_key), version, [], actor, data_erasure)

    def mark_ordered(self, cart: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        ctx = CartContext({**cart, "cartState": "Ordered"}, self.clock.now_iso(), repo=self)
        return self.save_update(cart, ctx, actor)


def add_or_merge(cart: dict[str, Any], item: dict[str, Any]) -> None:
    """A line item for the same variant at the platform price adds to the existing one's quantity."""
    for existing in cart["lineItems"]:
        if (
            existing["productId"] == item["productId"]
            and existing["variant"]["id"] == item["variant"]["id"]
            and existing["priceMode"] == item["priceMode"] == "Platform"
            and existing.get("taxRate") == item.get("taxRate")
        ):
            set_quantity(existing, existing["quantity"] + item["quantity"], item["lastModifiedAt"])
            return
    cart["lineItems"].append(item)


def set_quantity(item: dict[str, Any], quantity: int, now: str) -> None:
    item["quantity"] = quantity
    item["state"] = [{**item["state"][0], "quantity": quantity}]
    item["lastModifiedAt"] = now
    reprice(item)


class CartContext(ActionContext):
    def __init__(self, resource: dict[str, Any], now: str, *, repo: CartRepository) -> None:
        super().__init__(resource, now)
        self.repo = repo

    def find_item(self, action: dict[str, Any]) -> dict[str, Any]:
        item_id = string(action, "lineItemId", "actions -> ")
        item_key = string(action, "lineItemKey", "actions -> ")
        items: list[dict[str, Any]] = self.resource["lineItems"]
        for item in items:
            if (item_id is not None and item["id"] == item_id) or (
                item_key is not None and item.get("key") == item_key
            ):
                return item
        raise errors.invalid_operation(
            f"The cart has no line item with {'id ' + str(item_id) if item_id else 'key ' + str(item_key)}."
        )


def add_line_item(ctx: CartContext, action: dict[str, Any]) -> None:
    add_or_merge(ctx.resource, ctx.repo.line_item(ctx.resource, action, "actions", ctx.now))


def remove_line_item(ctx: CartContext, action: dict[str, Any]) -> None:
    item = ctx.find_item(action)
    quantity = integer(action, "quantity", "actions -> ")
    if quantity is None or quantity >= item["quantity"]:
        ctx.resource["lineItems"].remove(item)
    else:
        set_quantity(item, item["quantity"] - quantity, ctx.now)


def change_line_item_quantity(ctx: CartContext, action: dict[str, Any]) -> None:
    item = ctx.find_item(action)
    quantity = integer(action, "quantity", "actions -> ", required=True)
    assert quantity is not None
    if quantity < 0:
        raise errors.invalid_field("quantity", quantity, "The quantity must not be negative.")
    if quantity == 0:
        ctx.resource["lineItems"].remove(item)
    elif quantity != item["quantity"]:
        set_quantity(item, quantity, ctx.now)


def set_customer_email(ctx: CartContext, action: dict[str, Any]) -> None:
    email = action.get("email")
    set_or_drop(ctx.resource, "customerEmail", None if email is None else check_email(email, "actions -> "))


def set_customer_id(ctx: CartContext, action: dict[str, Any]) -> None:
    customer_id = string(action, "customerId", "actions -> ")
    ctx.repo.check_customer(customer_id)
    set_or_drop(ctx.resource, "customerId", customer_id)


def _address_setter(name: str) -> Handler:
    def handler(ctx: CartContext, action: dict[str, Any]) -> None:
        set_or_drop(ctx.resource, name, address(action.get("address"), ctx.repo.refs, "actions -> address"))

    return handler


def set_country(ctx: CartContext, action: dict[str, Any]) -> None:
    set_or_drop(ctx.resource, "country", check_country(action.get("country"), "actions -> country"))


def set_locale(ctx: CartContext, action: dict[str, Any]) -> None:
    locale = string(action, "locale", "actions -> ")
    check_locale(locale)
    set_or_drop(ctx.resource, "locale", locale)


def set_key(ctx: CartContext, action: dict[str, Any]) -> None:
    key = string(action, "key", "actions -> ")
    if key is not None and not KEY_PATTERN.match(key):
        raise errors.invalid_field("key", key, KEY_MESSAGE)
    set_or_drop(ctx.resource, "key", key)


def add_discount_code(ctx: CartContext, action: dict[str, Any]) -> None:
    raise no_such_discount_code(str(string(action, "code", "actions -> ", required=True)))


def add_payment(ctx: CartContext, action: dict[str, Any]) -> None:
    payment = ctx.repo.payments.resolve(action.get("payment"), "actions -> payment")
    ref = {"typeId": "payment", "id": payment["id"]}
    payments = ctx.resource.setdefault("paymentInfo", {"payments": []})["payments"]
    if ref not in payments:
        payments.append(ref)


def change_tax_mode(ctx: CartContext, action: dict[str, Any]) -> None:
    mode = enum(action.get("taxMode"), TAX_MODES, "actions -> taxMode")
    if mode == "ExternalAmount":
        raise unsupported("Carts with taxMode 'ExternalAmount'")
    ctx.resource["taxMode"] = mode


def set_line_item_tax_rate(ctx: CartContext, action: dict[str, Any]) -> None:
    if ctx.resource["taxMode"] != "External":
        raise errors.invalid_operation("The cart's taxMode must be 'External' to set an external tax rate.")
    item = ctx.find_item(action)
    rate = tax_rate(action.get("externalTaxRate"), "actions -> externalTaxRate")
    if rate is None:
        item.pop("taxRate", None)
    else:
        item["taxRate"] = rate
    reprice(item)


def _set_custom_type(ctx: CartContext, action: dict[str, Any]) -> None:
    set_custom_type(ctx, ctx.repo.refs.types, action, "order", None)


def _set_custom_field(ctx: CartContext, action: dict[str, Any]) -> None:
    set_custom_field(ctx, ctx.repo.refs.types, action, None)


def recalculate_action(ctx: CartContext, action: dict[str, Any]) -> None:
    """``recalculate``: totals are always current here, so this changes nothing."""


HANDLERS: dict[str, Handler] = {
    "addLineItem": add_line_item,
    "removeLineItem": remove_line_item,
    "changeLineItemQuantity": change_line_item_quantity,
    "setCustomerEmail": set_customer_email,
    "setCustomerId": set_customer_id,
    "setShippingAddress": _address_setter("shippingAddress"),
    "setBillingAddress": _address_setter("billingAddress"),
    "setCountry": set_country,
    "setLocale": set_locale,
    "setKey": set_key,
    "addDiscountCode": add_discount_code,
    "addPayment": add_payment,
    "changeTaxMode": change_tax_mode,
    "setLineItemTaxRate": set_line_item_tax_rate,
    "setCustomType": _set_custom_type,
    "setCustomField": _set_custom_field,
    "recalculate": recalculate_action,
}
