"""Transforms for identifying data: e-mail addresses, phone numbers (E.164) and ISO countries.

These run once or twice per record on the hot path of a bulk sync, and the underlying libraries are
comparatively slow (email-validator ~45 µs, phonenumbers ~50 µs per call), so:

* e-mail: the domain is validated by email-validator (no DNS) and cached per domain; a local part
  that is a plain RFC 5322 dot-atom is accepted without another call, anything else (quoted,
  internationalised, suspicious) goes through email-validator in full. Either way email-validator
  decides; the cache only avoids re-validating ``gmail.com`` ten thousand times.
* phone numbers and countries: results are memoised per (input, region hint).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from pydantic import Field, field_validator

from crmsync.mapping.paths import CompiledPath, parse_path
from crmsync.mapping.transforms.registry import (
    InvalidValue,
    TransformFn,
    ValidatingArgs,
    as_text,
    register_transform,
)

# ---------------------------------------------------------------------------------------------- e-mail

_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=8192)
def _validated_domain(domain: str) -> str:
    """email-validator's normalised form of ``domain`` (raises ``EmailNotValidError``)."""
    return validate_email("a@" + domain, check_deliverability=False).domain


def normalize_email_address(raw: str, *, lowercase_local: bool = True) -> str:
    """Strip, validate (syntax only, no DNS) and normalise an address; :class:`InvalidValue` if invalid.

    The domain is always lower-cased; the local part too unless ``lowercase_local`` is false
    (RFC 5321 lets a server treat it case-sensitively; almost none do, and CRMs match on it).
    """
    text = raw.strip()
    local, at, domain = text.rpartition("@")
    try:
        if at and len(local) <= 64 and len(text) <= 254 and _DOT_ATOM.fullmatch(local):
            domain = _validated_domain(domain)
        else:
            result = validate_email(text, check_deliverability=False)
            local, domain = result.local_part, result.domain
    except EmailNotValidError as exc:
        raise InvalidValue(f"not a valid e-mail address: {exc}") from None
    if lowercase_local:
        local = local.lower()
    return f"{local}@{domain.lower()}"


class NormalizeEmailArgs(ValidatingArgs):
    lowercase_local: bool = Field(default=True, description="lower-case the local part too")


@register_transform("normalize_email", args=NormalizeEmailArgs)
def _normalize_email(args: NormalizeEmailArgs) -> TransformFn:
    """Validate an e-mail address (no DNS), strip it, lower-case the domain (and local part)."""
    lowercase_local = args.lowercase_local

    def normalize(value: Any, scope: Any) -> str | None:
        text = as_text(value)
        if not text.strip():
            return None
        return normalize_email_address(text, lowercase_local=lowercase_local)

    return normalize


# ---------------------------------------------------------------------------------------------- countries

CountryForm = Literal["alpha2", "alpha3", "name"]


@lru_cache(maxsize=4096)
def lookup_country(text: str) -> tuple[str, str, str] | None:
    """``(alpha2, alpha3, name)`` for an alpha-2/alpha-3/numeric code or an English name; else ``None``."""
    key = text.strip()
    if not key or len(key) > 100:
        return None
    country: Any
    if len(key) == 2 and key.isascii() and key.isalpha():
        country = pycountry.countries.get(alpha_2=key.upper())
    elif len(key) == 3 and key.isascii() and key.isalpha():
        country = pycountry.countries.get(alpha_3=key.upper())
    else:
        try:
            country = pycountry.countries.lookup(key)
        except LookupError:
            country = None
    if country is None:
        return None
    name = getattr(country, "common_name", None) or country.name
    return str(country.alpha_2), str(country.alpha_3), str(name)


def country_code(value: Any, form: CountryForm = "alpha2") -> str:
    """The country in ``form``; :class:`InvalidValue` when the input names no ISO 3166 country."""
    found = lookup_country(as_text(value))
    if found is None:
        raise InvalidValue("not an ISO 3166 country")
    return found[("alpha2", "alpha3", "name").index(form)]


class IsoCountryArgs(ValidatingArgs):
    to: CountryForm = Field(default="alpha2", description="alpha2 (DE), alpha3 (DEU) or name (Germany)")


@register_transform("iso_country", args=IsoCountryArgs, shorthand="to")
def _iso_country(args: IsoCountryArgs) -> TransformFn:
    """An ISO 3166 country given as alpha-2, alpha-3, numeric or name → alpha-2 (or ``to``)."""
    form = args.to

    def convert(value: Any, scope: Any) -> str | None:
        if isinstance(value, str) and not value.strip():
            return None
        return country_code(value, form)

    return convert


# ---------------------------------------------------------------------------------------------- phones

_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "no country code and no usable region hint",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


@lru_cache(maxsize=65536)
def _e164(raw: str, region: str | None, require_valid: bool) -> tuple[str | None, str]:
    """``(e164, "")`` or ``(None, reason)``; memoised because parsing dominates projection time."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        return None, _PARSE_REASONS.get(exc.error_type, "not a phone number")
    ok = phonenumbers.is_valid_number(number) if require_valid else phonenumbers.is_possible_number(number)
    if not ok:
        where = f" (region hint {region})" if region else ""
        return None, f"not a valid phone number{where}"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


def to_e164(raw: str, region: str | None = None, *, require_valid: bool = True) -> str:
    """Format ``raw`` as E.164, using ``region`` (ISO alpha-2/alpha-3) for national numbers."""
    hint = None
    if region:
        found = lookup_country(region)
        hint = found[0] if found else None
    formatted, reason = _e164(raw.strip(), hint, require_valid)
    if formatted is None:
        raise InvalidValue(reason)
    return formatted


class E164Args(ValidatingArgs):
    region_from: str | None = Field(
        default=None, description="path (in the same scope as `from`) to an ISO country used as region hint"
    )
    region: str | None = Field(default=None, description="fixed region hint when region_from yields none")
    require_valid: bool = Field(
        default=True, description="true: a valid, assigned number; false: merely a possible one"
    )

    @field_validator("region_from")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None:
            parse_path(v)
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and lookup_country(v) is None:
            raise ValueError(f"{v!r} is not an ISO 3166 country")
        return v


@register_transform("e164", args=E164Args)
def _e164_transform(args: E164Args) -> TransformFn:
    """Phone number → E.164 (``+4930123456``) with phonenumbers; the region hint comes from a path."""
    region_path = CompiledPath(args.region_from) if args.region_from else None
    fixed_region = args.region
    require_valid = args.require_valid

    def e164(value: Any, scope: Any) -> str | None:
        text = as_text(value)
        if not text.strip():
            return None
        region = fixed_region
        if region_path is not None:
            hint = region_path.read(scope)
            if isinstance(hint, str) and hint.strip():
                region = hint
        return to_e164(text, region, require_valid=require_valid)

    return e164
