"""The filter parser and evaluator on their own (no HTTP): syntax, validation, semantics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crmsync.emulators.klaviyo.errors import ApiError
from crmsync.emulators.klaviyo.filters import Condition, Logical, compile_filter, parse, spec

SPECS = {
    "email": spec("any equals", fold_case=True),
    "external_id": spec("any equals"),
    "created": spec("greater-than less-than", "datetime"),
    "timestamp": spec("greater-or-equal less-than", "number"),
    "name": spec("contains starts-with ends-with"),
    "metric": spec("has"),
}


def _match(expression: str, record: dict[str, Any]) -> bool:
    return compile_filter(expression, SPECS, "thing").predicate(record.get)


def test_parses_nested_logic_lists_quotes_and_bare_values() -> None:
    nodes = parse(
        "and(equals(a,'x\\'y'),or(any(b,[\"1\", '2']),not(has(c)))),"
        "greater-than(d,2023-04-19T00:00:00Z),equals(e,12.5),equals(f,true),equals(g,null)"
    )
    assert nodes[0] == Logical(
        "and",
        (
            Condition("equals", "a", "x'y"),
            Logical("or", (Condition("any", "b", ["1", "2"]), Logical("not", (Condition("has", "c"),)))),
        ),
    )
    assert nodes[1] == Condition("greater-than", "d", datetime(2023, 4, 19, tzinfo=UTC))
    assert nodes[2:] == [
        Condition("equals", "e", 12.5),
        Condition("equals", "f", True),
        Condition("equals", "g", None),
    ]


def test_whitespace_is_tolerated() -> None:
    assert parse(' equals( email , "a@b.co" ) , any(external_id,[ "1" , "2" ])') == [
        Condition("equals", "email", "a@b.co"),
        Condition("any", "external_id", ["1", "2"]),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        'equals(email,"x"',
        "equals(email)",
        'equals(email,"x"))',
        "equals(email,'x)",
        "not(has(a),has(b))",
        ",",
        "x",
    ],
)
def test_syntax_errors(bad: str) -> None:
    with pytest.raises(ApiError) as info:
        parse(bad)
    assert (info.value.status, info.value.parameter) == (400, "filter")


def test_semantics() -> None:
    record = {
        "email": "ada@example.com",
        "external_id": "c-1",
        "created": datetime(2024, 1, 1, tzinfo=UTC),
        "timestamp": 100,
        "name": "Placed Order",
        "metric": "m",
    }
    assert _match('equals(email,"ADA@example.com")', record)
    assert _match('any(external_id,["c-0","c-1"])', record)
    assert not _match('equals(email,"ada@example.com"),equals(external_id,"c-2")', record)
    assert _match('or(equals(external_id,"c-2"),equals(external_id,"c-1"))', record)
    assert _match('not(equals(external_id,"c-2"))', record)
    assert _match("greater-than(created,2023-12-31T23:59:59Z)", record)
    assert not _match("less-than(created,2024-01-01T00:00:00+00:00)", record)
    assert _match("greater-or-equal(timestamp,100),less-than(timestamp,101)", record)
    assert _match('starts-with(name,"Placed"),ends-with(name,"Order"),contains(name,"ed O")', record)
    assert _match("has(metric)", record)
    assert not _match("greater-than(created,2030-01-01)", {"created": None})


@pytest.mark.parametrize(
    "expression",
    [
        'equals(unknown,"x")',
        'less-than(email,"x")',
        "equals(email,5)",
        'equals(email,["a","b"])',
        'any(email,"a")',
        'greater-than(created,"not a date")',
        'less-than(timestamp,"5")',
        "has(email)",
    ],
)
def test_validation_against_the_endpoint_fields(expression: str) -> None:
    with pytest.raises(ApiError) as info:
        compile_filter(expression, SPECS, "thing")
    assert info.value.parameter == "filter"


def test_top_level_conditions_are_exposed_for_index_lookups() -> None:
    compiled = compile_filter('equals(email,"A@B.co"),or(has(metric),has(metric))', SPECS, "thing")
    assert compiled.top_level() == [Condition("equals", "email", "a@b.co")]
