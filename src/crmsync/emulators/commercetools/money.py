"""Money, LocalizedStrings, enums and other draft-field checks shared by the commerce resources.

Money follows the spec's ``TypedMoney``: every amount the platform returns is a ``CentPrecisionMoney``
``{"type": "centPrecision", "currencyCode", "centAmount", "fractionDigits"}`` with the ISO 4217
number of fraction digits; drafts send ``Money`` ``{currencyCode, centAmount}`` (``type`` and
``fractionDigits`` may be present, as in ``TypedMoneyDraft``). High-precision money is not modelled:
a ``highPrecision`` draft keeps only its ``centAmount``.

Malformed drafts answer ``InvalidJsonInput`` with the JSON path in ``detailedErrorMessage`` — the
platform's answer to a body that does not match the draft type — and semantic problems answer
``InvalidInput`` / ``InvalidOperation`` / ``InvalidField``, like the customer drafts do.
"""

from __future__ import annotations

import re
from typing import Any

from . import errors

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LOCALE_KEY = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
# ISO 4217 currencies whose minor unit is not 2 (the rest of the world uses cents).
_FRACTION_DIGITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0, "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3,
    "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def fraction_digits(currency: str) -> int:
    return _FRACTION_DIGITS.get(currency, 2)


def money(currency: str, cent_amount: int) -> dict[str, Any]:
    """A ``CentPrecisionMoney`` in the platform's key order."""
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": cent_amount,
        "fractionDigits": fraction_digits(currency),
    }


def check_currency(value: Any, where: str) -> str:
    if value is None:
        raise errors.invalid_json(f"{where}: Missing required value")
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise errors.invalid_json(f"{where}: Invalid currency code '{value}'.")
    return value


def check_country(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _COUNTRY.match(value):
        raise errors.invalid_json(f"{where}: Invalid country code '{value}'.")
    return value


def money_draft(draft: Any, where: str) -> dict[str, Any]:
    """A ``Money`` / ``TypedMoneyDraft`` to the stored ``CentPrecisionMoney``."""
    if not isinstance(draft, dict):
        raise errors.invalid_json(
            f"{where}: Missing required value" if draft is None else f"{where}: Expected a Money object"
        )
    currency = check_currency(draft.get("currencyCode"), f"{where} -> currencyCode")
    cents = draft.get("centAmount")
    if cents is None:
        raise errors.invalid_json(f"{where} -> centAmount: Missing required value")
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise errors.invalid_json(f"{where} -> centAmount: JSON Number (integer) expected.")
    digits = draft.get("fractionDigits")
    if digits is not None and digits != fraction_digits(currency):
        raise errors.invalid_input(
            f"{where}: The currency {currency} has {fraction_digits(currency)} fraction digits, not {digits}."
        )
    return money(currency, cents)


def same_currency(amounts: list[dict[str, Any]], currency: str, where: str) -> None:
    for amount in amounts:
        if amount["currencyCode"] != currency:
            raise errors.invalid_operation(
                f"{where}: Currency mismatch: expected '{currency}' but got '{amount['currencyCode']}'."
            )


def localized(value: Any, where: str, *, required: bool = True) -> dict[str, str] | None:
    """A ``LocalizedString`` (``{"en": "…", "de-DE": "…"}``)."""
    if value is None:
        if required:
            raise errors.invalid_json(f"{where}: Missing required value")
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and _LOCALE_KEY.match(k) and isinstance(v, str) for k, v in value.items()
    ):
        raise errors.invalid_json(f"{where}: Expected a LocalizedString (an object of locale -> string).")
    return dict(value)


def enum(value: Any, allowed: tuple[str, ...], where: str, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise errors.invalid_json(f"{where}: Missing required value")
        return None
    if value not in allowed:
        expected = ",".join(f"'{a}'" for a in allowed)
        raise errors.invalid_json(f"{where}: Invalid enum value: '{value}'. Expected one of: {expected}")
    return str(value)


def string(body: dict[str, Any], name: str, where: str = "", *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise errors.invalid_json(f"{where}{name}: Missing required value")
        return None
    if not isinstance(value, str):
        raise errors.invalid_json(f"{where}{name}: JSON String expected.")
    return value


def integer(body: dict[str, Any], name: str, where: str = "", *, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise errors.invalid_json(f"{where}{name}: Missing required value")
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise errors.invalid_json(f"{where}{name}: JSON Number (integer) expected.")
    return value


def boolean(body: dict[str, Any], name: str, default: bool, where: str = "") -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise errors.invalid_json(f"{where}{name}: JSON Boolean expected.")
    return value


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.invalid_json(f"{where}: Expected a JSON object.")
    return value


def object_list(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise errors.invalid_json(f"{where}: Expected a JSON array of objects.")
    return value


def reference_id(value: Any, type_id: str, where: str) -> tuple[str | None, str | None]:
    """``(id, key)`` of a ``ResourceIdentifier`` ``{typeId?, id | key}`` of the given type."""
    if not isinstance(value, dict):
        raise errors.invalid_json(
            f"{where}: Missing required value" if value is None else f"{where}: Expected a ResourceIdentifier"
        )
    given_type = value.get("typeId")
    if given_type is not None and given_type != type_id:
        raise errors.invalid_json(f"{where} -> typeId: Expected '{type_id}' but got '{given_type}'.")
    ident, key = value.get("id"), value.get("key")
    if ident is not None and not isinstance(ident, str):
        raise errors.invalid_json(f"{where} -> id: JSON String expected.")
    if key is not None and not isinstance(key, str):
        raise errors.invalid_json(f"{where} -> key: JSON String expected.")
    if ident is None and key is None:
        raise errors.invalid_json(f"{where}: Either 'id' or 'key' must be set.")
    return ident, key
