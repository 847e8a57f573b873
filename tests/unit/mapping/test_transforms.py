"""The built-in transforms, called the way a compiled contract calls them."""

from __future__ import annotations

from typing import Any

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from crmsync.mapping.transforms import (
    DEFAULT_REGISTRY,
    InvalidValue,
    TransformArgs,
    TransformRegistry,
    normalize_email_address,
)


def run(ref: Any, value: Any, scope: Any = None) -> Any:
    definition, args = DEFAULT_REGISTRY.resolve(ref)
    return definition.build(args)(value, scope)


def test_builtins_are_registered() -> None:
    expected = {
        "normalize_email",
        "e164",
        "iso_country",
        "join",
        "first_non_empty",
        "trim",
        "lower",
        "upper",
        "money_from_cents",
        "locale_language",
        "default",
        "to_string",
        "bool",
        "pluck",
    }
    assert expected <= set(DEFAULT_REGISTRY.names())


# -- e-mail ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John.Doe@Example.COM", "john.doe@example.com"),
        ("  jane@example.org\t", "jane@example.org"),
        ("A+Tag@Sub.Example.co.uk", "a+tag@sub.example.co.uk"),
        ("ÜBER@Bücher.de", "über@bücher.de"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert run("normalize_email", raw) == expected


def test_normalize_email_can_keep_local_part_case() -> None:
    ref = {"normalize_email": {"lowercase_local": False}}
    assert run(ref, " John.Doe@EXAMPLE.com ") == "John.Doe@example.com"


@pytest.mark.parametrize("raw", ["no-at-sign", "a@b", "two@@example.com", "a..b@example.com", "a@-x-.com"])
def test_normalize_email_rejects_invalid(raw: str) -> None:
    with pytest.raises(InvalidValue, match="not a valid e-mail address"):
        run("normalize_email", raw)


def test_normalize_email_blank_is_absent() -> None:
    assert run("normalize_email", "   ") is None


_LOCAL = st.text(alphabet="abcXYZ019.+-_'!#~", min_size=1, max_size=70)
_DOMAIN = st.sampled_from(["example.com", "EXAMPLE.org", "mail.example.co.uk", "localhost", "x", "a-.com"])


@given(local=_LOCAL, domain=_DOMAIN)
def test_email_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    """The per-domain cache must never accept or normalise differently from email-validator."""
    address = f"{local}@{domain}"
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = normalize_email_address(address, lowercase_local=False)
    except InvalidValue:
        got = None
    if expected is None:
        assert got is None
    else:
        assert got == expected.rsplit("@", 1)[0] + "@" + expected.rsplit("@", 1)[1].lower()


# -- phone numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("030 1234567", "DE", "+49301234567"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("0049 30 1234567", "DE", "+49301234567"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("07911 123456", "GB", "+447911123456"),
        ("(202) 456-1111", "US", "+12024561111"),
        ("08-123 456 78", "SE", "+46812345678"),
        ("070-123 45 67", "SE", "+46701234567"),
        ("+46 70 123 45 67", "US", "+46701234567"),  # an explicit country code beats the hint
        ("030 1234567", "DEU", "+49301234567"),  # alpha-3 hints work too
    ],
)
def test_e164_with_region_hint_from_path(raw: str, region: str, expected: str) -> None:
    ref = {"e164": {"region_from": "address.country"}}
    assert run(ref, raw, {"address": {"country": region}}) == expected


def test_e164_fixed_region_when_path_yields_none() -> None:
    ref = {"e164": {"region_from": "address.country", "region": "GB"}}
    assert run(ref, "020 7946 0018", {"address": {}}) == "+442079460018"


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("12", "DE", "not a valid phone number"),
        ("not a number", "DE", "not a phone number"),
        ("030 1234567", None, "no country code"),
        ("07700 900123", "GB", "not a valid phone number"),  # Ofcom drama range: possible, not valid
    ],
)
def test_e164_invalid(raw: str, region: str | None, reason: str) -> None:
    ref = {"e164": {"region_from": "country"}}
    with pytest.raises(InvalidValue, match=reason):
        run(ref, raw, {"country": region})


def test_e164_require_valid_false_accepts_possible_numbers() -> None:
    ref = {"e164": {"region": "GB", "require_valid": False}}
    assert run(ref, "07700 900123", {}) == "+447700900123"


def test_e164_bad_fixed_region_is_a_contract_error() -> None:
    with pytest.raises(ValueError, match="'ZZ' is not an ISO 3166 country"):
        DEFAULT_REGISTRY.resolve({"e164": {"region": "ZZ"}})


# -- countries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("DEU", "DE"), ("deu", "DE"), ("de", "DE"), ("GBR", "GB"), ("Sweden", "SE"), ("840", "US")],
)
def test_iso_country_to_alpha2(raw: str, expected: str) -> None:
    assert run("iso_country", raw) == expected


def test_iso_country_to_alpha3_and_name() -> None:
    assert run({"iso_country": {"to": "alpha3"}}, "DE") == "DEU"
    assert run({"iso_country": "alpha3"}, "SE") == "SWE"  # shorthand fills `to`
    assert run({"iso_country": {"to": "name"}}, "DE") == "Germany"


def test_iso_country_unknown() -> None:
    with pytest.raises(InvalidValue, match="not an ISO 3166 country"):
        run("iso_country", "XX")


# -- text and structure ---------------------------------------------------------------------------


def test_join_skips_missing_and_blank_parts() -> None:
    assert run({"join": {"separator": ", "}}, ["a", None, "  ", " b ", 3]) == "a, b, 3"
    assert run("join", [None, ""]) is None
    assert run({"join": "-"}, ["x", "y"]) == "x-y"


def test_join_rejects_objects() -> None:
    with pytest.raises(InvalidValue, match="expected text, got object"):
        run("join", ["a", {"b": 1}])


def test_first_non_empty() -> None:
    assert run("first_non_empty", [None, " ", [], "x", "y"]) == "x"
    assert run("first_non_empty", [None, ""]) is None


@pytest.mark.parametrize(
    ("ref", "value", "expected"),
    [
        ("trim", "  a b  ", "a b"),
        ("trim", "   ", None),
        ("trim", 42, "42"),
        ("lower", "ÄbC", "äbc"),
        ("upper", "de", "DE"),
        ("locale_language", "de-DE", "de"),
        ("locale_language", "en_GB", "en"),
        ("locale_language", "FR", "fr"),
        ({"default": "n/a"}, None, "n/a"),
        ({"default": "n/a"}, "  ", "n/a"),
        ({"default": {"value": 0}}, "x", "x"),
        ({"default": {"a": 1}}, None, {"a": 1}),  # a mapping that is not the arguments is the value
        ("to_string", 12, "12"),
        ("to_string", True, "true"),
        ("to_string", 1.5, "1.5"),
        ("bool", "Yes", True),
        ("bool", "off", False),
        ("bool", 1, True),
        ({"pluck": "key"}, [{"key": "eu"}, {"typeId": "store"}, {"key": "us"}], ["eu", "us"]),
        ({"pluck": {"field": "a.b"}}, [{"a": {"b": 1}}], [1]),
    ],
)
def test_simple_transforms(ref: Any, value: Any, expected: Any) -> None:
    assert run(ref, value) == expected


@pytest.mark.parametrize(
    ("ref", "value"),
    [
        ("trim", {"a": 1}),
        ("bool", "maybe"),
        ("locale_language", "12-34"),
        ("pluck", "not-a-list"),
        ("to_string", {"a": 1}),
        ("to_string", ["a"]),
    ],
)
def test_simple_transforms_reject_bad_input(ref: Any, value: Any) -> None:
    if ref == "pluck":
        ref = {"pluck": "key"}
    with pytest.raises(InvalidValue):
        run(ref, value)


def test_money_from_cents() -> None:
    money = {"type": "centPrecision", "currencyCode": "EUR", "centAmount": 1999, "fractionDigits": 2}
    assert run("money_from_cents", money) == 19.99
    assert run({"money_from_cents": {"as_string": True}}, money) == "19.99"
    precise = {"type": "highPrecision", "centAmount": 1235, "preciseAmount": 123456, "fractionDigits": 4}
    assert run("money_from_cents", precise) == 12.3456
    assert run({"money_from_cents": {"fraction_digits": 0}}, 500) == 500.0
    assert run("money_from_cents", {"centAmount": 5, "fractionDigits": 3}) == 0.005
    with pytest.raises(InvalidValue, match="neither centAmount nor preciseAmount"):
        run("money_from_cents", {"currencyCode": "EUR"})
    with pytest.raises(InvalidValue, match="must be an integer"):
        run("money_from_cents", {"centAmount": "12"})


# -- the registry ---------------------------------------------------------------------------------


def test_unknown_transform_suggests_a_name() -> None:
    with pytest.raises(ValueError, match="unknown transform 'e165'; did you mean 'e164'"):
        DEFAULT_REGISTRY.resolve("e165")


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="invalid arguments for 'join': sep: Extra inputs"):
        DEFAULT_REGISTRY.resolve({"join": {"sep": ","}})
    with pytest.raises(ValueError, match="'trim' takes no arguments"):
        DEFAULT_REGISTRY.resolve({"trim": {"x": 1}})
    with pytest.raises(ValueError, match="exactly one key"):
        DEFAULT_REGISTRY.resolve({"trim": None, "lower": None})


class _PrefixArgs(TransformArgs):
    prefix: str


def test_custom_registry_extends_a_copy() -> None:
    registry: TransformRegistry = DEFAULT_REGISTRY.copy()

    @registry.transform("prefix", args=_PrefixArgs, shorthand="prefix")
    def _prefix(args: _PrefixArgs) -> Any:
        return lambda value, scope: args.prefix + str(value)

    definition, args = registry.resolve({"prefix": "ct-"})
    assert definition.build(args)("1", None) == "ct-1"
    assert "prefix" not in DEFAULT_REGISTRY
    with pytest.raises(ValueError, match="already registered"):
        registry.register("prefix", _prefix, args=_PrefixArgs)
