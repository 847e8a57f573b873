"""General-purpose transforms: text clean-up, combining values, defaults and type conversion."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import Field, JsonValue, field_validator

from crmsync.mapping.paths import CompiledPath, parse_path
from crmsync.mapping.transforms.registry import (
    InvalidValue,
    TransformArgs,
    TransformFn,
    ValidatingArgs,
    as_text,
    is_empty,
    json_type,
    register_transform,
)


def trim_text(value: Any, scope: Any = None) -> str | None:
    if value.__class__ is str:
        return value.strip() or None
    return as_text(value).strip() or None


@register_transform("trim")
def _trim(_: None) -> TransformFn:
    """Strip surrounding whitespace; a blank result becomes absent."""
    return trim_text


@register_transform("lower")
def _lower(_: None) -> TransformFn:
    """Lower-case text."""
    return lambda value, scope: as_text(value).lower()


@register_transform("upper")
def _upper(_: None) -> TransformFn:
    """Upper-case text."""
    return lambda value, scope: as_text(value).upper()


class JoinArgs(TransformArgs):
    separator: str = " "


def _parts(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value]


@register_transform("join", args=JoinArgs, shorthand="separator", accepts_list=True, handles_none=True)
def _join(args: JoinArgs) -> TransformFn:
    """Join the values of a multi-path ``from`` with ``separator``, skipping missing and blank parts."""
    separator = args.separator

    def join(value: Any, scope: Any) -> str | None:
        texts = []
        for part in _parts(value):
            if part is None:
                continue
            text = as_text(part).strip()
            if text:
                texts.append(text)
        return separator.join(texts) if texts else None

    return join


@register_transform("first_non_empty", accepts_list=True, handles_none=True)
def _first_non_empty(_: None) -> TransformFn:
    """The first value that is not missing, blank or an empty container."""

    def first(value: Any, scope: Any) -> Any:
        for part in _parts(value):
            if not is_empty(part):
                return part
        return None

    return first


class DefaultArgs(TransformArgs):
    value: JsonValue


@register_transform("default", args=DefaultArgs, shorthand="value", handles_none=True)
def _default(args: DefaultArgs) -> TransformFn:
    """Use ``value`` when the input is missing or blank."""
    fallback = args.value
    return lambda value, scope: fallback if is_empty(value) else value


@register_transform("to_string")
def _to_string(_: None) -> TransformFn:
    """Render a scalar as text (``true``/``false`` for booleans); objects and arrays are invalid."""

    def to_string(value: Any, scope: Any) -> str:
        if value.__class__ is str:
            return str(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | Decimal):
            return str(value)
        raise InvalidValue(f"expected a scalar, got {json_type(value)}")

    return to_string


_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


class BoolArgs(ValidatingArgs):
    pass


@register_transform("bool", args=BoolArgs)
def _bool(args: BoolArgs) -> TransformFn:
    """Booleans, 0/1 and true/false/yes/no/on/off (any case) to a boolean."""

    def to_bool(value: Any, scope: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        raise InvalidValue(f"not a boolean: {json_type(value)}")

    return to_bool


class PluckArgs(TransformArgs):
    field: str = Field(description="path inside each element")

    @field_validator("field")
    @classmethod
    def _path(cls, v: str) -> str:
        parse_path(v)
        return v


@register_transform("pluck", args=PluckArgs, shorthand="field")
def _pluck(args: PluckArgs) -> TransformFn:
    """From a list of objects, the list of one field's values (missing ones skipped)."""
    path = CompiledPath(args.field)

    def pluck(value: Any, scope: Any) -> list[Any]:
        if not isinstance(value, list):
            raise InvalidValue(f"expected an array, got {json_type(value)}")
        out = []
        for element in value:
            item = path.read(element)
            if item is not None:
                out.append(item)
        return out

    return pluck


_LANGUAGE = re.compile(r"[A-Za-z]{2,3}")


class LocaleLanguageArgs(ValidatingArgs):
    pass


@register_transform("locale_language", args=LocaleLanguageArgs)
def _locale_language(args: LocaleLanguageArgs) -> TransformFn:
    """The language subtag of a locale: ``de-DE`` → ``de``, ``en_GB`` → ``en``."""

    def language(value: Any, scope: Any) -> str | None:
        text = as_text(value).strip()
        if not text:
            return None
        lang = re.split(r"[-_]", text, maxsplit=1)[0]
        if not _LANGUAGE.fullmatch(lang):
            raise InvalidValue(f"not a locale: {text[:40]!r}")
        return lang.lower()

    return language


class MoneyArgs(ValidatingArgs):
    fraction_digits: int | None = Field(
        default=None, ge=0, le=20, description="used when the input carries no fractionDigits"
    )
    as_string: bool = Field(default=False, description="exact decimal text instead of a JSON number")


def _int_field(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidValue(f"money {name} must be an integer, got {json_type(value)}")


@register_transform("money_from_cents", args=MoneyArgs)
def _money_from_cents(args: MoneyArgs) -> TransformFn:
    """commercetools Money (``centAmount``/``preciseAmount``, ``fractionDigits``) or cents → an amount."""
    default_digits = 2 if args.fraction_digits is None else args.fraction_digits
    as_string = args.as_string

    def money(value: Any, scope: Any) -> float | str:
        if isinstance(value, dict):
            digits_raw = value.get("fractionDigits", args.fraction_digits)
            digits = default_digits if digits_raw is None else _int_field(digits_raw, "fractionDigits")
            if not 0 <= digits <= 20:
                raise InvalidValue(f"money fractionDigits out of range: {digits}")
            amount_raw = value.get("preciseAmount", value.get("centAmount"))
            if amount_raw is None:
                raise InvalidValue("money has neither centAmount nor preciseAmount")
            cents = _int_field(amount_raw, "amount")
        else:
            cents = _int_field(value, "amount")
            digits = default_digits
        amount = Decimal(cents).scaleb(-digits)
        return format(amount, "f") if as_string else float(amount)

    return money
