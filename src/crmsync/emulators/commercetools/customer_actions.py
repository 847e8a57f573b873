"""Customer update actions and the Messages each one writes.

Each handler mutates a working copy of the customer and emits ``(messageType, fields)`` pairs. Which
actions write which Message follows the platform's Message types: e.g. ``setFirstName`` →
``CustomerFirstNameSet``; ``setMiddleName``, ``setSalutation``, ``setVatId``, ``setKey``,
``setCustomerNumber``, ``setLocale`` and ``setAuthenticationMode`` write **no** Message (they show up
only as a ``ResourceUpdated`` change notification). An action that changes nothing emits nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors
from ._util import jcopy
from .customer_draft import (
    AUTH_MODES,
    References,
    address_roles,
    build_address,
    check_date_of_birth,
    check_email,
    check_key,
    check_locale,
    group_assignments,
    group_ref,
    hash_password,
    optional_str,
    store_refs,
)

NO_CUSTOM_TYPE = (
    "This resource has no custom type set - please use setCustomType first to set the type of the custom "
    "fields"
)


@dataclass
class UpdateContext:
    customer: dict[str, Any]
    refs: References
    payloads: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, message_type: str, **fields: Any) -> None:
        self.payloads.append((message_type, {k: jcopy(v) for k, v in fields.items() if v is not None}))


Handler = Callable[[UpdateContext, dict[str, Any]], None]


def _set_or_drop(customer: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        customer.pop(name, None)
    else:
        customer[name] = value


def _find_address(ctx: UpdateContext, action: dict[str, Any], required: bool = True) -> dict[str, Any] | None:
    address_id = optional_str(action, "addressId", "actions -> ")
    address_key = optional_str(action, "addressKey", "actions -> ")
    addresses: list[dict[str, Any]] = ctx.customer["addresses"]
    if address_key is not None:
        found = next((a for a in addresses if a.get("key") == address_key), None)
        if found is None:
            raise errors.invalid_operation(
                f"Customer does not contain an address with the key {address_key}."
            )
        return found
    if address_id is not None:
        found = next((a for a in addresses if a["id"] == address_id), None)
        if found is None:
            raise errors.invalid_operation(f"Customer does not contain an address with the id {address_id}.")
        return found
    if required:
        raise errors.invalid_operation("One of address 'addressId' or 'addressKey' is required.")
    return None


# -- addresses --------------------------------------------------------------------------------------


def add_address(ctx: UpdateContext, action: dict[str, Any]) -> None:
    address = build_address(action.get("address"), ctx.refs, "actions -> address")
    key = address.get("key")
    if key is not None and any(a.get("key") == key for a in ctx.customer["addresses"]):
        raise errors.duplicate_field("addresses.key", key)
    ctx.customer["addresses"].append(address)
    ctx.emit("CustomerAddressAdded", address=address)


def change_address(ctx: UpdateContext, action: dict[str, Any]) -> None:
    current = _find_address(ctx, action)
    assert current is not None
    address = build_address(action.get("address"), ctx.refs, "actions -> address", address_id=current["id"])
    key = address.get("key")
    if key is not None and any(
        a.get("key") == key and a["id"] != current["id"] for a in ctx.customer["addresses"]
    ):
        raise errors.duplicate_field("addresses.key", key)
    if "custom" in current and "custom" not in address:
        address["custom"] = current["custom"]
    addresses = ctx.customer["addresses"]
    addresses[addresses.index(current)] = address
    ctx.emit(
        "CustomerAddressChanged", address=address, addressRoles=address_roles(ctx.customer, current["id"])
    )


def remove_address(ctx: UpdateContext, action: dict[str, Any]) -> None:
    current = _find_address(ctx, action)
    assert current is not None
    customer = ctx.customer
    roles = address_roles(customer, current["id"])
    customer["addresses"] = [a for a in customer["addresses"] if a["id"] != current["id"]]
    for ids in ("shippingAddressIds", "billingAddressIds"):
        customer[ids] = [i for i in customer[ids] if i != current["id"]]
    for default in ("defaultShippingAddressId", "defaultBillingAddressId"):
        if customer.get(default) == current["id"]:
            del customer[default]
    ctx.emit("CustomerAddressRemoved", address=current, addressRoles=roles)


def _set_default(kind: str) -> Handler:
    default_field, ids_field = f"default{kind}AddressId", f"{kind.lower()}AddressIds"

    def handler(ctx: UpdateContext, action: dict[str, Any]) -> None:
        address = _find_address(ctx, action, required=False)
        if address is None:
            ctx.customer.pop(default_field, None)
        else:
            ctx.customer[default_field] = address["id"]
            if address["id"] not in ctx.customer[ids_field]:
                ctx.customer[ids_field].append(address["id"])
        ctx.emit(f"CustomerDefault{kind}AddressSet", address=address)

    return handler


def _add_role(kind: str) -> Handler:
    ids_field = f"{kind.lower()}AddressIds"

    def handler(ctx: UpdateContext, action: dict[str, Any]) -> None:
        address = _find_address(ctx, action)
        assert address is not None
        if address["id"] not in ctx.customer[ids_field]:
            ctx.customer[ids_field].append(address["id"])
            ctx.emit(f"Customer{kind}AddressAdded", address=address)

    return handler


def _remove_role(kind: str) -> Handler:
    default_field, ids_field = f"default{kind}AddressId", f"{kind.lower()}AddressIds"

    def handler(ctx: UpdateContext, action: dict[str, Any]) -> None:
        address = _find_address(ctx, action)
        assert address is not None
        if address["id"] not in ctx.customer[ids_field]:
            raise errors.invalid_operation(
                f"The address with the id {address['id']} is not a {kind.lower()} address of the customer."
            )
        ctx.customer[ids_field].remove(address["id"])
        if ctx.customer.get(default_field) == address["id"]:
            del ctx.customer[default_field]
        ctx.emit(f"Customer{kind}AddressRemoved", address=address)

    return handler


# -- simple fields ---------------------------------------------------------------------------------


def _setter(name: str, message: str | None, check: Callable[[str | None], None] | None = None) -> Handler:
    def handler(ctx: UpdateContext, action: dict[str, Any]) -> None:
        value = optional_str(action, name, "actions -> ")
        if check is not None:
            check(value)
        _set_or_drop(ctx.customer, name, value)
        if message is not None:
            ctx.emit(message, **{name: value})

    return handler


def change_email(ctx: UpdateContext, action: dict[str, Any]) -> None:
    email = check_email(action.get("email"), "actions -> ")
    old = ctx.customer["email"]
    if email == old:
        return
    ctx.customer["email"] = email
    ctx.customer["isEmailVerified"] = False
    ctx.emit("CustomerEmailChanged", email=email, oldEmail=old)


def set_customer_number(ctx: UpdateContext, action: dict[str, Any]) -> None:
    value = optional_str(action, "customerNumber", "actions -> ")
    current = ctx.customer.get("customerNumber")
    if current is not None and value != current:
        raise errors.invalid_operation("A Customer number already exists and cannot be set again.")
    _set_or_drop(ctx.customer, "customerNumber", value)


def set_customer_group(ctx: UpdateContext, action: dict[str, Any]) -> None:
    raw = action.get("customerGroup")
    reference = group_ref(raw, ctx.refs, "actions -> customerGroup") if raw is not None else None
    _set_or_drop(ctx.customer, "customerGroup", reference)
    ctx.emit("CustomerGroupSet", customerGroup=reference)


def add_group_assignment(ctx: UpdateContext, action: dict[str, Any]) -> None:
    [assignment] = group_assignments(
        [action.get("customerGroupAssignment") or {}], ctx.refs, "actions -> customerGroupAssignment"
    )
    if assignment not in ctx.customer["customerGroupAssignments"]:
        ctx.customer["customerGroupAssignments"].append(assignment)
        ctx.emit("CustomerGroupAssignmentAdded", customerGroupAssignment=assignment)


def remove_group_assignment(ctx: UpdateContext, action: dict[str, Any]) -> None:
    assignment = {
        "customerGroup": group_ref(action.get("customerGroup"), ctx.refs, "actions -> customerGroup")
    }
    if assignment in ctx.customer["customerGroupAssignments"]:
        ctx.customer["customerGroupAssignments"].remove(assignment)
        ctx.emit("CustomerGroupAssignmentRemoved", customerGroupAssignment=assignment)


def set_group_assignments(ctx: UpdateContext, action: dict[str, Any]) -> None:
    old = ctx.customer["customerGroupAssignments"]
    new = group_assignments(
        action.get("customerGroupAssignments"), ctx.refs, "actions -> customerGroupAssignments"
    )
    ctx.customer["customerGroupAssignments"] = new
    ctx.emit("CustomerGroupAssignmentsSet", customerGroupAssignments=new, oldCustomerGroupAssignments=old)


def _stores_changed(ctx: UpdateContext, old: list[dict[str, str]], new: list[dict[str, str]]) -> None:
    ctx.customer["stores"] = new
    if new != old:
        ctx.emit("CustomerStoresSet", stores=new, oldStores=old)


def add_store(ctx: UpdateContext, action: dict[str, Any]) -> None:
    old = ctx.customer["stores"]
    [store] = store_refs([action.get("store")], ctx.refs, "actions -> store")
    _stores_changed(ctx, old, old if store in old else [*old, store])


def remove_store(ctx: UpdateContext, action: dict[str, Any]) -> None:
    old = ctx.customer["stores"]
    [store] = store_refs([action.get("store")], ctx.refs, "actions -> store")
    _stores_changed(ctx, old, [s for s in old if s != store])


def set_stores(ctx: UpdateContext, action: dict[str, Any]) -> None:
    _stores_changed(
        ctx, ctx.customer["stores"], store_refs(action.get("stores"), ctx.refs, "actions -> stores")
    )


# -- custom fields ---------------------------------------------------------------------------------


def _apply_custom_type(
    ctx: UpdateContext, holder: dict[str, Any], action: dict[str, Any], resource: str, **extra: Any
) -> None:
    previous = holder.get("custom", {}).get("type", {}).get("id")
    prefix = "CustomerAddress" if resource == "address" else "Customer"
    if action.get("type") is None:
        if "custom" in holder:
            del holder["custom"]
            ctx.emit(f"{prefix}CustomTypeRemoved", previousTypeId=previous, **extra)
        return
    custom = ctx.refs.types.build_custom({"type": action["type"], "fields": action.get("fields")}, resource)
    holder["custom"] = custom
    ctx.emit(f"{prefix}CustomTypeSet", customFields=custom, previousTypeId=previous, **extra)


def _apply_custom_field(
    ctx: UpdateContext, holder: dict[str, Any], action: dict[str, Any], prefix: str, **extra: Any
) -> None:
    name = action.get("name")
    if not isinstance(name, str):
        raise errors.invalid_json("actions -> name: Missing required value")
    custom = holder.get("custom")
    if custom is None:
        raise errors.invalid_operation(NO_CUSTOM_TYPE)
    type_resource = ctx.refs.types.get(custom["type"]["id"])
    fields = custom["fields"]
    value = action.get("value")
    if value is None:
        if name in fields:
            del fields[name]
            if type_resource is not None:
                ctx.refs.types.check_required(type_resource, fields)
            ctx.emit(f"{prefix}CustomFieldRemoved", name=name, **extra)
        return
    stored = ctx.refs.types.check_field(type_resource, name, value) if type_resource is not None else value
    if name in fields:
        previous = fields[name]
        fields[name] = stored
        if previous != stored:
            ctx.emit(f"{prefix}CustomFieldChanged", name=name, value=stored, previousValue=previous, **extra)
    else:
        fields[name] = stored
        ctx.emit(f"{prefix}CustomFieldAdded", name=name, value=stored, **extra)


def set_custom_type(ctx: UpdateContext, action: dict[str, Any]) -> None:
    _apply_custom_type(ctx, ctx.customer, action, "customer")


def set_custom_field(ctx: UpdateContext, action: dict[str, Any]) -> None:
    _apply_custom_field(ctx, ctx.customer, action, "Customer")


def set_address_custom_type(ctx: UpdateContext, action: dict[str, Any]) -> None:
    address = _find_address(ctx, action)
    assert address is not None
    _apply_custom_type(ctx, address, action, "address", addressId=address["id"])


def set_address_custom_field(ctx: UpdateContext, action: dict[str, Any]) -> None:
    address = _find_address(ctx, action)
    assert address is not None
    _apply_custom_field(ctx, address, action, "CustomerAddress", addressId=address["id"])


def set_authentication_mode(ctx: UpdateContext, action: dict[str, Any]) -> None:
    mode = action.get("authMode")
    if mode not in AUTH_MODES:
        raise errors.invalid_json(
            f"actions -> authMode: Invalid enum value: '{mode}'. Expected one of: 'Password','ExternalAuth'"
        )
    if ctx.customer["authenticationMode"] == mode:
        raise errors.invalid_input(f"The customer is already using the '{mode}' authentication mode.")
    password = optional_str(action, "password", "actions -> ")
    if mode == "Password":
        if not password:
            raise errors.required_field("password", "Password is required for authenticationMode 'Password'.")
        ctx.customer["password"] = hash_password(password)
    else:
        ctx.customer.pop("password", None)
    ctx.customer["authenticationMode"] = mode


HANDLERS: dict[str, Handler] = {
    "addAddress": add_address,
    "changeAddress": change_address,
    "removeAddress": remove_address,
    "setDefaultBillingAddress": _set_default("Billing"),
    "setDefaultShippingAddress": _set_default("Shipping"),
    "addBillingAddressId": _add_role("Billing"),
    "addShippingAddressId": _add_role("Shipping"),
    "removeBillingAddressId": _remove_role("Billing"),
    "removeShippingAddressId": _remove_role("Shipping"),
    "changeEmail": change_email,
    "setFirstName": _setter("firstName", "CustomerFirstNameSet"),
    "setLastName": _setter("lastName", "CustomerLastNameSet"),
    "setMiddleName": _setter("middleName", None),
    "setTitle": _setter("title", "CustomerTitleSet"),
    "setSalutation": _setter("salutation", None),
    "setDateOfBirth": _setter("dateOfBirth", "CustomerDateOfBirthSet", check_date_of_birth),
    "setCompanyName": _setter("companyName", "CustomerCompanyNameSet"),
    "setVatId": _setter("vatId", None),
    "setCustomerNumber": set_customer_number,
    "setExternalId": _setter("externalId", "CustomerExternalIdSet"),
    "setKey": _setter("key", None, check_key),
    "setLocale": _setter("locale", None, check_locale),
    "setCustomerGroup": set_customer_group,
    "addCustomerGroupAssignment": add_group_assignment,
    "removeCustomerGroupAssignment": remove_group_assignment,
    "setCustomerGroupAssignments": set_group_assignments,
    "addStore": add_store,
    "removeStore": remove_store,
    "setStores": set_stores,
    "setCustomType": set_custom_type,
    "setCustomField": set_custom_field,
    "setAddressCustomType": set_address_custom_type,
    "setAddressCustomField": set_address_custom_field,
    "setAuthenticationMode": set_authentication_mode,
}


def apply_actions(customer: dict[str, Any], actions: Any, refs: References) -> UpdateContext:
    """Apply all actions to a copy of ``customer``; the caller commits only if every one succeeds."""
    if not isinstance(actions, list):
        raise errors.invalid_json("actions: Missing required value")
    if len(actions) > 500:
        raise errors.invalid_input("The number of update actions must not exceed 500.")
    ctx = UpdateContext(jcopy(customer), refs)
    for position, action in enumerate(actions):
        if not isinstance(action, dict) or not isinstance(action.get("action"), str):
            raise errors.invalid_json(f"actions -> {position} -> action: Missing required value")
        handler = HANDLERS.get(action["action"])
        if handler is None:
            raise errors.invalid_input(f"Unknown update action '{action['action']}' for customers.")
        before = jcopy(ctx.customer)
        emitted = len(ctx.payloads)
        handler(ctx, action)
        if ctx.customer == before:
            del ctx.payloads[emitted:]
    return ctx
