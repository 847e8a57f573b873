"""The query predicate language: parser, evaluation semantics and error reporting."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.emulators.commercetools.predicate import (
    And,
    Compare,
    Contains,
    InList,
    IsDefined,
    Nested,
    Not,
    Or,
    PredicateError,
    Var,
    parse,
)
from crmsync.emulators.commercetools.predicate_eval import compile_where

DOC: dict[str, Any] = {
    "id": "b",
    "version": 3,
    "email": "jane@example.com",
    "firstName": "Jane",
    "isEmailVerified": True,
    "createdAt": "2024-05-01T10:00:00.000Z",
    "addresses": [{"country": "DE", "city": "Berlin"}, {"country": "FR", "city": "Paris"}],
    "stores": [{"typeId": "store", "key": "eu-store"}],
    "custom": {"type": {"typeId": "type", "id": "t1"}, "fields": {"loyaltyTier": "gold", "points": 12}},
    "billingAddressIds": ["a1", "a2"],
    "shippingAddressIds": [],
    "resource": {"typeId": "customer", "id": "c1"},
}


def matches(predicate: str, doc: dict[str, Any] = DOC, **variables: str | list[str]) -> bool:
    values = {k: v if isinstance(v, list) else [v] for k, v in variables.items()}
    compiled = compile_where([predicate], None, values)
    assert compiled is not None
    return compiled.matcher(doc)


def test_parse_builds_the_expected_tree() -> None:
    tree = parse('a = "x" and (b > 2 or not(c is defined)) and d(e in ("1", :v)) and f contains any ("p")')
    assert tree == And(
        (
            Compare("a", "=", "x"),
            Or((Compare("b", ">", 2), Not(IsDefined("c", negated=False)))),
            Nested("d", InList("e", ("1", Var("v")), negated=False)),
            Contains("f", "any", ("p",)),
        )
    )


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ('email = "jane@example.com"', True),
        ('email != "jane@example.com"', False),
        ('email <> "x@example.com"', True),
        ("version = 3", True),
        ("version >= 3 and version < 4", True),
        ("version > 3", False),
        ("version <= 2.5", False),
        ("isEmailVerified = true", True),
        ("isEmailVerified = false", False),
        ('firstName > "Jan"', True),
        ('firstName < "Jan"', False),
        ('createdAt > "2024-05-01T09:59:59.999Z"', True),
        ('createdAt > "2024-05-01T10:00:00Z"', False),
        ('createdAt >= "2024-05-01T12:00:00+02:00"', True),
        ('createdAt < "2024-05-02"', True),
        ('id in ("a", "b", "c")', True),
        ('id not in ("a", "c")', True),
        ('id not in ("b")', False),
        ("middleName is defined", False),
        ("middleName is not defined", True),
        ("firstName is defined", True),
        ("shippingAddressIds is empty", True),
        ("billingAddressIds is not empty", True),
        ('billingAddressIds contains "a2"', True),
        ('billingAddressIds contains all ("a1", "a2")', True),
        ('billingAddressIds contains all ("a1", "a9")', False),
        ('billingAddressIds contains any ("a9", "a1")', True),
        ('addresses(country = "FR")', True),
        ('addresses(country = "GB")', False),
        ('addresses(country = "FR" and city = "Berlin")', False),
        ('addresses(country = "DE" and city = "Berlin")', True),
        ('custom(fields(loyaltyTier = "gold"))', True),
        ("custom(fields(points > 10))", True),
        ('custom(type(id = "t1"))', True),
        ('stores(key = "eu-store")', True),
        ('stores(key = "uk-store")', False),
        ('resource(typeId = "customer")', True),
        ('not(email = "jane@example.com")', False),
        ('(version = 1 or version = 3) and not(firstName = "Joe")', True),
        ('version = 1 or version = 2 or firstName = "Jane" and version = 3', True),
        ('email = "jane@example.com" AND version = 3', True),
        ('missing(field = "x")', False),
        ("firstName = 3", False),
        ('version = "3"', False),
    ],
)
def test_evaluation(predicate: str, expected: bool) -> None:
    assert matches(predicate) is expected


def test_input_variables() -> None:
    assert matches("email = :mail", mail="jane@example.com")
    assert matches("id in :ids", ids=["a", "b"])
    assert matches("version = :v", v="3")
    assert matches("isEmailVerified = :flag", flag="true")
    assert not matches("version > :v", v="3")
    with pytest.raises(PredicateError, match=":nope"):
        matches("email = :nope")


def test_string_escapes() -> None:
    doc = {"firstName": 'Jane "JJ" \\ Doe', "city": "Zürich"}
    assert matches('firstName = "Jane \\"JJ\\" \\\\ Doe"', doc)
    assert matches('city = "Z\\u00fcrich"', doc)


@pytest.mark.parametrize(
    ("predicate", "fragment"),
    [
        ('firstName ilike "x"', "Invalid input 'i'"),
        ('email = "unterminated', "Unexpected end of input"),
        ("email =", "Unexpected end of input"),
        ('email = "a" and', "Unexpected end of input"),
        ('(email = "a"', "Unexpected end of input"),
        ('email = "a")', "Invalid input ')'"),
        ("", "Unexpected end of input"),
        ('email == "a"', "Invalid input '='"),
        ("email in ()", "Invalid input ')'"),
        ('email is "a"', "Invalid input '\"'"),
        ("email ! x", "Invalid input ' '"),
        ("12abc = 1", "Invalid input 'a'"),
        ('email = "a" @', "Invalid input '@'"),
        ("version = ²", "Invalid input '²'"),  # a Unicode digit, not an ASCII one
        ("vérsion = 1", "Invalid input 'é'"),
    ],
)
def test_syntax_errors_name_the_problem_like_the_platform(predicate: str, fragment: str) -> None:
    with pytest.raises(PredicateError) as info:
        parse(predicate)
    message = info.value.message
    assert message.startswith("Syntax error while parsing 'where'.")
    assert fragment in message
    assert "(line 1, column " in message


def test_error_position_and_caret() -> None:
    with pytest.raises(PredicateError) as info:
        parse('firstName ilike "x"')
    assert info.value.message.endswith('(line 1, column 11):\nfirstName ilike "x"\n          ^')


def test_nesting_is_bounded() -> None:
    with pytest.raises(PredicateError) as info:
        parse("(" * 200 + 'a = "b"' + ")" * 200)
    assert info.value.complexity


def test_unknown_fields_are_rejected_against_a_schema() -> None:
    schema = {"email": None, "addresses": {"country": None}, "custom": {"fields": None}}
    assert (
        compile_where(['addresses(country = "DE")', "custom(fields(anything = 1))"], schema, {}) is not None
    )
    with pytest.raises(PredicateError, match=r"The field 'nope' does not exist\."):
        compile_where(['nope = "x"'], schema, {})
    with pytest.raises(PredicateError, match=r"The field 'town' does not exist\."):
        compile_where(['addresses(town = "x")'], schema, {})


def test_bounds_for_the_planner() -> None:
    compiled = compile_where(
        [
            'resource(typeId = "customer")',
            'createdAt > "2024-01-01T00:00:00.000Z" and createdAt <= "2024-02-01"',
        ],
        None,
        {},
    )
    assert compiled is not None
    bounds = compiled.bounds("createdAt")
    assert bounds is not None
    assert (bounds.low, bounds.low_inclusive, bounds.high, bounds.high_inclusive) == (
        "2024-01-01T00:00:00.000Z", False, "2024-02-01", True,
    )  # fmt: skip
    keyset = compile_where(['createdAt > "t2" or (createdAt = "t1" and id > "x")'], None, {})
    assert keyset is not None
    union = keyset.bounds("createdAt")
    assert union is not None and (union.low, union.low_inclusive, union.high) == ("t1", True, None)
    assert keyset.bounds("id") is None
    unbounded = compile_where(['createdAt > "t" or email = "x"'], None, {})
    assert unbounded is not None and unbounded.bounds("createdAt") is None
