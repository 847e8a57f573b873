"""CustomerDraft → Customer, and the field validation shared with the update actions.

Shape rules follow the platform: the draft refers to addresses by **index** (``defaultBillingAddress:
0``, ``billingAddresses: [0, 2]``), the stored Customer by generated address **id**; a default
address is also listed in the matching ``…AddressIds``; stores are stored as ``StoreKeyReference``
(``{"typeId": "store", "key": …}``); ``custom.type`` becomes a reference by id; the password is
stored hashed and rendered like ``"****aGg="``. Malformed bodies are ``InvalidJsonInput`` with the
JSON path in ``detailedErrorMessage``, as the platform answers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from . import errors
from ._util import drop_none, new_address_id
from .references import KEY_MESSAGE, KEY_PATTERN, KeyedReferences, TypeRegistry

ADDRESS_FIELDS = (
    "key", "country", "title", "salutation", "firstName", "lastName", "streetName", "streetNumber",
    "additionalStreetInfo", "postalCode", "city", "region", "state", "company", "department", "building",
    "apartment", "pOBox", "phone", "mobile", "email", "fax", "additionalAddressInfo", "externalId",
)  # fmt: skip
CUSTOMER_STRING_FIELDS = (
    "key", "customerNumber", "externalId", "firstName", "lastName", "middleName", "title", "salutation",
    "dateOfBirth", "companyName", "vatId", "locale",
)  # fmt: skip
_ADDRESS_FIELD_SET = frozenset(ADDRESS_FIELDS)
AUTH_MODES = ("Password", "ExternalAuth")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2}|-[A-Za-z0-9]{4,8})?$")


@dataclass
class References:
    """The registries a customer's references resolve against."""

    types: TypeRegistry
    stores: KeyedReferences
    customer_groups: KeyedReferences


def hash_password(password: str) -> str:
    """Stored/rendered password: ``****`` plus the tail of a hash, like the platform shows it."""
    digest = base64.b64encode(hashlib.sha256(password.encode()).digest()).decode()
    return "****" + digest[-4:]


def optional_str(body: dict[str, Any], name: str, where: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise errors.invalid_json(f"{where}{name}: JSON String expected.")
    return value


def check_key(key: str | None) -> None:
    if key is not None and not KEY_PATTERN.match(key):
        raise errors.invalid_field("key", key, KEY_MESSAGE)


def check_date_of_birth(value: str | None) -> None:
    if value is not None and not _DATE.match(value):
        raise errors.invalid_json(f"dateOfBirth: Invalid date '{value}', expected format YYYY-MM-DD.")


def check_locale(value: str | None) -> None:
    if value is not None and not _LOCALE.match(value):
        raise errors.invalid_field("locale", value, f"'{value}' is not a valid locale.")


def check_email(value: Any, where: str = "") -> str:
    if value is None:
        raise errors.invalid_json(f"{where}email: Missing required value")
    if not isinstance(value, str):
        raise errors.invalid_json(f"{where}email: JSON String expected.")
    if not value.strip():
        raise errors.invalid_field("email", value, "The email must not be empty.")
    return value


def build_address(draft: Any, refs: References, where: str, address_id: str | None = None) -> dict[str, Any]:
    """A BaseAddress draft to a stored Address with an id (a new one unless ``address_id``)."""
    if not isinstance(draft, dict):
        raise errors.invalid_json(f"{where}: Expected a JSON object")
    country = draft.get("country")
    if country is None:
        raise errors.invalid_json(f"{where} -> country: Missing required value")
    if not isinstance(country, str) or not _COUNTRY.match(country):
        raise errors.invalid_json(f"{where} -> country: Invalid country code '{country}'.")
    address: dict[str, Any] = {"id": address_id or new_address_id()}
    for name, value in draft.items():
        if value is None or name not in _ADDRESS_FIELD_SET:
            continue
        if not isinstance(value, str):
            raise errors.invalid_json(f"{where} -> {name}: JSON String expected.")
        address[name] = value
    check_key(address.get("key"))
    if draft.get("custom") is not None:
        address["custom"] = refs.types.build_custom(draft["custom"], "address")
    return address


def address_roles(customer: dict[str, Any], address_id: str) -> list[str]:
    roles = []
    if address_id in customer.get("shippingAddressIds", ()):
        roles.append("Shipping")
    if address_id in customer.get("billingAddressIds", ()):
        roles.append("Billing")
    return roles


def store_refs(raw: Any, refs: References, where: str) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.invalid_json(f"{where}: Expected a list of StoreResourceIdentifier")
    keys: list[str] = []
    for position, item in enumerate(raw):
        key = refs.stores.key_of(item, f"{where} -> {position}")
        if key not in keys:
            keys.append(key)
    return [{"typeId": "store", "key": key} for key in keys]


def group_ref(raw: Any, refs: References, where: str) -> dict[str, str]:
    return {"typeId": "customer-group", "id": refs.customer_groups.id_of(raw, where)}


def group_assignments(raw: Any, refs: References, where: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.invalid_json(f"{where}: Expected a list of CustomerGroupAssignmentDraft")
    result: list[dict[str, Any]] = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict) or "customerGroup" not in item:
            raise errors.invalid_json(f"{where} -> {position} -> customerGroup: Missing required value")
        assignment = {"customerGroup": group_ref(item["customerGroup"], refs, f"{where} -> {position}")}
        if assignment not in result:
            result.append(assignment)
    return result


def _index(addresses: list[dict[str, Any]], raw: Any, where: str) -> str:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise errors.invalid_json(f"{where}: JSON Number expected.")
    if raw < 0 or raw >= len(addresses):
        raise errors.invalid_input(
            f"{where}: The address index {raw} is out of range (there are {len(addresses)} addresses)."
        )
    return str(addresses[raw]["id"])


def _index_list(addresses: list[dict[str, Any]], raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.invalid_json(f"{where}: Expected a list of address indexes")
    ids: list[str] = []
    for position, item in enumerate(raw):
        address_id = _index(addresses, item, f"{where} -> {position}")
        if address_id not in ids:
            ids.append(address_id)
    return ids


def build_customer(
    draft: Any, refs: References, *, customer_id: str, now: str, actor: dict[str, Any]
) -> dict[str, Any]:
    """Validate a CustomerDraft and build the stored Customer (uniqueness is the repository's job)."""
    if not isinstance(draft, dict):
        raise errors.invalid_json("Expected a JSON object (CustomerDraft).")
    email = check_email(draft.get("email"))
    strings = {name: optional_str(draft, name, "") for name in CUSTOMER_STRING_FIELDS}
    check_key(strings["key"])
    check_date_of_birth(strings["dateOfBirth"])
    check_locale(strings["locale"])
    mode = draft.get("authenticationMode") or "Password"
    if mode not in AUTH_MODES:
        raise errors.invalid_json(
            f"authenticationMode: Invalid enum value: '{mode}'. Expected one of: 'Password','ExternalAuth'"
        )
    password = optional_str(draft, "password", "")
    if mode == "Password" and not password:
        raise errors.required_field("password", "Password is required for authenticationMode 'Password'.")
    if mode == "ExternalAuth" and password is not None:
        raise errors.invalid_input("The password must not be set when authenticationMode is 'ExternalAuth'.")
    verified = draft.get("isEmailVerified", False)
    if not isinstance(verified, bool):
        raise errors.invalid_json("isEmailVerified: JSON Boolean expected.")

    raw_addresses = draft.get("addresses") or []
    if not isinstance(raw_addresses, list):
        raise errors.invalid_json("addresses: Expected a list of BaseAddress")
    addresses = [build_address(a, refs, f"addresses -> {i}") for i, a in enumerate(raw_addresses)]
    keys = [a["key"] for a in addresses if "key" in a]
    if len(keys) != len(set(keys)):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise errors.duplicate_field("addresses.key", duplicate)
    shipping_ids = _index_list(addresses, draft.get("shippingAddresses"), "shippingAddresses")
    billing_ids = _index_list(addresses, draft.get("billingAddresses"), "billingAddresses")
    default_shipping = default_billing = None
    if draft.get("defaultShippingAddress") is not None:
        default_shipping = _index(addresses, draft["defaultShippingAddress"], "defaultShippingAddress")
        if default_shipping not in shipping_ids:
            shipping_ids.append(default_shipping)
    if draft.get("defaultBillingAddress") is not None:
        default_billing = _index(addresses, draft["defaultBillingAddress"], "defaultBillingAddress")
        if default_billing not in billing_ids:
            billing_ids.append(default_billing)

    customer: dict[str, Any] = {
        "id": customer_id,
        "version": 1,
        "key": strings["key"],
        "customerNumber": strings["customerNumber"],
        "externalId": strings["externalId"],
        "createdAt": now,
        "lastModifiedAt": now,
        "lastModifiedBy": dict(actor),
        "createdBy": dict(actor),
        "email": email,
        "firstName": strings["firstName"],
        "lastName": strings["lastName"],
        "middleName": strings["middleName"],
        "title": strings["title"],
        "salutation": strings["salutation"],
        "dateOfBirth": strings["dateOfBirth"],
        "companyName": strings["companyName"],
        "vatId": strings["vatId"],
        "password": hash_password(password) if password else None,
        "addresses": addresses,
        "defaultShippingAddressId": default_shipping,
        "shippingAddressIds": shipping_ids,
        "defaultBillingAddressId": default_billing,
        "billingAddressIds": billing_ids,
        "isEmailVerified": verified,
        "customerGroup": group_ref(draft["customerGroup"], refs, "customerGroup")
        if draft.get("customerGroup")
        else None,
        "customerGroupAssignments": group_assignments(
            draft.get("customerGroupAssignments"), refs, "customerGroupAssignments"
        ),
        "custom": refs.types.build_custom(draft["custom"], "customer")
        if draft.get("custom") is not None
        else None,
        "locale": strings["locale"],
        "stores": store_refs(draft.get("stores"), refs, "stores"),
        "authenticationMode": mode,
    }
    return drop_none(customer)
