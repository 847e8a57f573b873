"""Payments (``/payments``): planned amount, payment method, transactions, and their Messages.

``PaymentDraft`` → ``Payment`` (``payment.example.json`` shape): ``amountPlanned`` as
``CentPrecisionMoney``, ``paymentMethodInfo`` and ``paymentStatus`` default to ``{}``,
``transactions`` get ids, ``state`` defaults to ``Initial``; a transaction without ``timestamp`` gets
the time it was added (an emulator choice: the spec leaves it optional). ``key`` is unique.

Messages (spec types): ``PaymentCreated {payment}``; ``addTransaction`` →
``PaymentTransactionAdded {transaction}``; ``changeTransactionState`` →
``PaymentTransactionStateChanged {transactionId, state}``; ``setInterfaceId`` →
``PaymentInterfaceIdSet {interfaceId, oldInterfaceId?}``; ``setStatusInterfaceCode`` →
``PaymentStatusInterfaceCodeSet {paymentId, interfaceCode}``. The other actions write none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors
from ._util import Clock, jcopy, new_id, normalize_datetime_literal
from .custom_fields import custom_from_draft, set_custom_field, set_custom_type
from .messages import Change, MessageLog
from .money import enum, localized, money_draft, object_list, reference_id, string
from .references import KEY_MESSAGE, KEY_PATTERN, TypeRegistry
from .repository import ActionContext, Handler, Repository, run_actions, set_or_drop

TRANSACTION_TYPES = ("Authorization", "CancelAuthorization", "Charge", "Refund", "Chargeback")
TRANSACTION_STATES = ("Initial", "Pending", "Success", "Failure")
PAYMENT_FIELDS = (
    "id", "version", "createdAt", "lastModifiedAt", "lastModifiedBy", "createdBy", "key", "customer",
    "anonymousId", "externalId", "interfaceId", "amountPlanned", "amountAuthorized", "authorizedUntil",
    "amountPaid", "amountRefunded", "paymentMethodInfo", "paymentStatus", "transactions",
    "interfaceInteractions", "custom",
)  # fmt: skip


def _timestamp(value: Any, where: str) -> str | None:
    if value is None:
        return None
    normalized = normalize_datetime_literal(value) if isinstance(value, str) else None
    if normalized is None:
        raise errors.invalid_json(f"{where}: Invalid date-time '{value}'.")
    return normalized


def build_transaction(draft: Any, where: str, now: str) -> dict[str, Any]:
    if not isinstance(draft, dict):
        raise errors.invalid_json(f"{where}: Expected a TransactionDraft object")
    transaction: dict[str, Any] = {"id": new_id()}
    transaction["timestamp"] = _timestamp(draft.get("timestamp"), f"{where} -> timestamp") or now
    transaction["type"] = enum(draft.get("type"), TRANSACTION_TYPES, f"{where} -> type")
    transaction["amount"] = money_draft(draft.get("amount"), f"{where} -> amount")
    set_or_drop(transaction, "interactionId", string(draft, "interactionId", f"{where} -> "))
    transaction["state"] = (
        enum(draft.get("state"), TRANSACTION_STATES, f"{where} -> state", required=False) or "Initial"
    )
    set_or_drop(transaction, "interfaceId", string(draft, "interfaceId", f"{where} -> "))
    return transaction


def _method_info(draft: Any) -> dict[str, Any]:
    if draft is None:
        return {}
    if not isinstance(draft, dict):
        raise errors.invalid_json("paymentMethodInfo: Expected a PaymentMethodInfoDraft object")
    info: dict[str, Any] = {}
    for name in ("paymentInterface", "method", "interfaceAccount"):
        set_or_drop(info, name, string(draft, name, "paymentMethodInfo -> "))
    set_or_drop(info, "name", localized(draft.get("name"), "paymentMethodInfo -> name", required=False))
    if draft.get("token") is not None:
        info["token"] = jcopy(draft["token"])
    return info


class PaymentRepository(Repository):
    type_id = "payment"
    resource_name = "payments"

    def __init__(
        self,
        clock: Clock,
        messages: MessageLog,
        notify: Callable[[Change], None],
        *,
        types: TypeRegistry,
        customer_exists: Callable[[str], bool],
    ) -> None:
        super().__init__(clock, messages, notify, {name: None for name in PAYMENT_FIELDS})
        self.types = types
        self.customer_exists = customer_exists

    def customer_ref(self, raw: Any, where: str) -> dict[str, str]:
        ident, key = reference_id(raw, "customer", where)
        if ident is None or not self.customer_exists(ident):
            raise errors.referenced_resource_not_found(
                "customer", id=ident, key=key if ident is None else None
            )
        return {"typeId": "customer", "id": ident}

    def resolve(self, identifier: Any, where: str) -> dict[str, Any]:
        ident, key = reference_id(identifier, "payment", where)
        found = self.get(ident) if ident is not None else self.get_by_key(str(key))
        if found is None:
            raise errors.referenced_resource_not_found(
                "payment", id=ident, key=key if ident is None else None
            )
        return found

    def build(self, draft: Any, actor: dict[str, Any], now: str) -> dict[str, Any]:
        if not isinstance(draft, dict):
            raise errors.invalid_json("Expected a JSON object (PaymentDraft).")
        payment = self.new_base(new_id(), actor, now)
        key = string(draft, "key")
        if key is not None and not KEY_PATTERN.match(key):
            raise errors.invalid_field("key", key, KEY_MESSAGE)
        set_or_drop(payment, "key", key)
        if draft.get("customer") is not None:
            payment["customer"] = self.customer_ref(draft["customer"], "customer")
        for name in ("anonymousId", "externalId", "interfaceId"):
            set_or_drop(payment, name, string(draft, name))
        payment["amountPlanned"] = money_draft(draft.get("amountPlanned"), "amountPlanned")
        for name in ("amountAuthorized", "amountPaid", "amountRefunded"):
            if draft.get(name) is not None:
                payment[name] = money_draft(draft[name], name)
        set_or_drop(payment, "authorizedUntil", _timestamp(draft.get("authorizedUntil"), "authorizedUntil"))
        payment["paymentMethodInfo"] = _method_info(draft.get("paymentMethodInfo"))
        status = draft.get("paymentStatus") or {}
        payment["paymentStatus"] = {k: status[k] for k in ("interfaceCode", "interfaceText") if k in status}
        payment["transactions"] = [
            build_transaction(t, f"transactions -> {i}", now)
            for i, t in enumerate(object_list(draft.get("transactions"), "transactions"))
        ]
        payment["interfaceInteractions"] = []
        set_or_drop(payment, "custom", custom_from_draft(self.types, draft.get("custom"), "payment"))
        return payment

    def create(self, draft: Any, actor: dict[str, Any]) -> dict[str, Any]:
        payment = self.build(draft, actor, self.clock.now_iso())
        return self.save_new(payment, [("PaymentCreated", {"payment": payment})], actor)

    def update(
        self, ident: str, by_key: bool, version: Any, actions: Any, actor: dict[str, Any]
    ) -> dict[str, Any]:
        current = self.require(ident, by_key)
        self.check_version(current, version)
        ctx = PaymentContext(jcopy(current), self.clock.now_iso(), repo=self)
        run_actions(ctx, actions, HANDLERS, "payments")
        return self.save_update(current, ctx, actor)

    def delete(
        self, ident: str, by_key: bool, version: Any, actor: dict[str, Any], data_erasure: bool = False
    ) -> dict[str, Any]:
        current = self.require(ident, by_key)
        return self.save_delete(current, version, [], actor, data_erasure)


class PaymentContext(ActionContext):
    def __init__(self, resource: dict[str, Any], now: str, *, repo: PaymentRepository) -> None:
        super().__init__(resource, now)
        self.repo = repo


def _transaction(ctx: PaymentContext, action: dict[str, Any]) -> dict[str, Any]:
    ident = string(action, "transactionId", "actions -> ", required=True)
    transactions: list[dict[str, Any]] = ctx.resource["transactions"]
    found = next((t for t in transactions if t["id"] == ident), None)
    if found is None:
        raise errors.invalid_operation(f"The payment has no transaction with id '{ident}'.")
    return found


def add_transaction(ctx: PaymentContext, action: dict[str, Any]) -> None:
    transaction = build_transaction(action.get("transaction"), "actions -> transaction", ctx.now)
    ctx.resource["transactions"].append(transaction)
    ctx.emit("PaymentTransactionAdded", transaction=transaction)


def change_transaction_state(ctx: PaymentContext, action: dict[str, Any]) -> None:
    transaction = _transaction(ctx, action)
    state = enum(action.get("state"), TRANSACTION_STATES, "actions -> state")
    if transaction["state"] != state:
        transaction["state"] = state
        ctx.emit("PaymentTransactionStateChanged", transactionId=transaction["id"], state=state)


def change_transaction_interaction_id(ctx: PaymentContext, action: dict[str, Any]) -> None:
    set_or_drop(_transaction(ctx, action), "interactionId", string(action, "interactionId", "actions -> "))


def change_transaction_timestamp(ctx: PaymentContext, action: dict[str, Any]) -> None:
    _transaction(ctx, action)["timestamp"] = _timestamp(action.get("timestamp"), "actions -> timestamp")


def change_amount_planned(ctx: PaymentContext, action: dict[str, Any]) -> None:
    ctx.resource["amountPlanned"] = money_draft(action.get("amount"), "actions -> amount")


def set_key(ctx: PaymentContext, action: dict[str, Any]) -> None:
    key = string(action, "key", "actions -> ")
    if key is not None and not KEY_PATTERN.match(key):
        raise errors.invalid_field("key", key, KEY_MESSAGE)
    set_or_drop(ctx.resource, "key", key)


def set_customer(ctx: PaymentContext, action: dict[str, Any]) -> None:
    raw = action.get("customer")
    set_or_drop(
        ctx.resource, "customer", None if raw is None else ctx.repo.customer_ref(raw, "actions -> customer")
    )


def set_interface_id(ctx: PaymentContext, action: dict[str, Any]) -> None:
    value = string(action, "interfaceId", "actions -> ", required=True)
    old = ctx.resource.get("interfaceId")
    ctx.resource["interfaceId"] = value
    ctx.emit("PaymentInterfaceIdSet", interfaceId=value, oldInterfaceId=old)


def set_status_interface_code(ctx: PaymentContext, action: dict[str, Any]) -> None:
    value = string(action, "interfaceCode", "actions -> ")
    set_or_drop(ctx.resource["paymentStatus"], "interfaceCode", value)
    ctx.emit("PaymentStatusInterfaceCodeSet", paymentId=ctx.resource["id"], interfaceCode=value)


def set_status_interface_text(ctx: PaymentContext, action: dict[str, Any]) -> None:
    set_or_drop(
        ctx.resource["paymentStatus"], "interfaceText", string(action, "interfaceText", "actions -> ")
    )


def _method_setter(name: str, field: str) -> Handler:
    def handler(ctx: PaymentContext, action: dict[str, Any]) -> None:
        if field == "name":
            value: Any = localized(action.get(name), f"actions -> {name}", required=False)
        else:
            value = string(action, name, "actions -> ")
        set_or_drop(ctx.resource["paymentMethodInfo"], field, value)

    return handler


def _set_custom_type(ctx: PaymentContext, action: dict[str, Any]) -> None:
    set_custom_type(ctx, ctx.repo.types, action, "payment", None)


def _set_custom_field(ctx: PaymentContext, action: dict[str, Any]) -> None:
    set_custom_field(ctx, ctx.repo.types, action, None)


HANDLERS: dict[str, Handler] = {
    "addTransaction": add_transaction,
    "changeTransactionState": change_transaction_state,
    "changeTransactionInteractionId": change_transaction_interaction_id,
    "changeTransactionTimestamp": change_transaction_timestamp,
    "changeAmountPlanned": change_amount_planned,
    "setKey": set_key,
    "setCustomer": set_customer,
    "setInterfaceId": set_interface_id,
    "setStatusInterfaceCode": set_status_interface_code,
    "setStatusInterfaceText": set_status_interface_text,
    "setMethodInfoMethod": _method_setter("method", "method"),
    "setMethodInfoName": _method_setter("name", "name"),
    "setMethodInfoInterface": _method_setter("interface", "paymentInterface"),
    "setCustomType": _set_custom_type,
    "setCustomField": _set_custom_field,
}
