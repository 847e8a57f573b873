"""Compile a parsed predicate into a Python closure, and extract index bounds for the query planner.

Semantics (as the platform applies them to JSON resources):

* ``field op value`` compares like-typed values only (strings with strings, numbers with numbers,
  booleans with booleans); anything else — including an undefined field — does not match.
* Date-time literals are normalized to the stored rendering (``2024-01-01T00:00:00.000Z``), so plain
  string comparison orders them correctly.
* ``field(…)`` descends into an object, or matches when *any* element of an array of objects matches
  (``addresses(country = "DE")``, ``stores(key = "eu-store")``).
* A comparison against an array of scalars matches when any element matches.
* Field names are checked against a schema; unknown fields are rejected like the platform does
  (``The field 'x' does not exist.``). ``None`` in the schema means "anything below is allowed".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._util import normalize_datetime_literal
from .predicate import (
    And,
    Compare,
    InList,
    IsDefined,
    IsEmpty,
    Literal,
    Nested,
    Node,
    Not,
    Or,
    PredicateError,
    Var,
    parse,
)

Matcher = Callable[[Any], bool]
Schema = Mapping[str, "Schema | None"]


class _Untyped(str):
    """A value from a ``var.<name>`` query parameter: a string that may stand for a number or boolean."""


def _as_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, _Untyped):
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            return None
    return None


def _coerce(actual: Any, literal: Any) -> tuple[Any, Any] | None:
    """Bring ``actual`` and ``literal`` to comparable types, or ``None`` when they cannot compare."""
    if isinstance(actual, bool):
        if isinstance(literal, bool):
            return actual, literal
        if isinstance(literal, _Untyped) and literal in ("true", "false"):
            return actual, literal == "true"
        return None
    if isinstance(actual, int | float):
        number = _as_number(literal)
        return None if number is None else (actual, number)
    if isinstance(actual, str) and isinstance(literal, str):
        return actual, str(literal)
    return None


def _compare(actual: Any, op: str, literal: Any) -> bool:
    pair = _coerce(actual, literal)
    if pair is None:
        return False
    left, right = pair
    if op == "=":
        return bool(left == right)
    if op in ("!=", "<>"):
        return bool(left != right)
    if isinstance(left, bool):
        return False
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    return bool(left <= right)


def _normalize(literal: Any) -> Any:
    if isinstance(literal, str) and len(literal) >= 16 and literal[4:5] == "-" and literal[10:11] == "T":
        normalized = normalize_datetime_literal(literal)
        if normalized is not None:
            return _Untyped(normalized) if isinstance(literal, _Untyped) else normalized
    return literal


@dataclass
class _Context:
    variables: Mapping[str, Sequence[str]]

    def resolve(self, literal: Literal) -> list[Any]:
        """A literal as a list of concrete values (an input variable may carry several)."""
        if isinstance(literal, Var):
            values = self.variables.get(literal.name)
            if not values:
                raise PredicateError(f"The input variable ':{literal.name}' is not defined.")
            return [_normalize(_Untyped(v)) for v in values]
        return [_normalize(literal)]

    def resolve_one(self, literal: Literal) -> Any:
        values = self.resolve(literal)
        if len(values) != 1:
            name = literal.name if isinstance(literal, Var) else "?"
            raise PredicateError(f"The input variable ':{name}' has several values where one is expected.")
        return values[0]


def _field_schema(schema: Schema | None, field: str) -> Schema | None:
    if schema is None:
        return None
    if field not in schema:
        raise PredicateError(f"The field '{field}' does not exist.")
    return schema[field]


def _compile(node: Node, schema: Schema | None, ctx: _Context) -> Matcher:
    if isinstance(node, And):
        parts = [_compile(item, schema, ctx) for item in node.items]
        return lambda obj: all(part(obj) for part in parts)
    if isinstance(node, Or):
        parts = [_compile(item, schema, ctx) for item in node.items]
        return lambda obj: any(part(obj) for part in parts)
    if isinstance(node, Not):
        inner = _compile(node.item, schema, ctx)
        return lambda obj: not inner(obj)
    if isinstance(node, Nested):
        return _compile_nested(node, schema, ctx)
    field = node.field
    _field_schema(schema, field)
    if isinstance(node, Compare):
        return _compile_compare(field, node.op, ctx.resolve_one(node.value))
    if isinstance(node, InList):
        return _compile_in(field, [v for lit in node.values for v in ctx.resolve(lit)], node.negated)
    if isinstance(node, IsDefined):
        negated = node.negated
        return lambda obj: (isinstance(obj, dict) and obj.get(field) is not None) != negated
    if isinstance(node, IsEmpty):
        return _compile_empty(field, node.negated)
    return _compile_contains(field, node.mode, [v for lit in node.values for v in ctx.resolve(lit)])


def _compile_nested(node: Nested, schema: Schema | None, ctx: _Context) -> Matcher:
    field = node.field
    inner = _compile(node.item, _field_schema(schema, field), ctx)

    def match(obj: Any) -> bool:
        if not isinstance(obj, dict):
            return False
        value = obj.get(field)
        if isinstance(value, dict):
            return inner(value)
        if isinstance(value, list):
            return any(inner(element) for element in value if isinstance(element, dict))
        return False

    return match


def _compile_compare(field: str, op: str, literal: Any) -> Matcher:
    def match(obj: Any) -> bool:
        if not isinstance(obj, dict):
            return False
        value = obj.get(field)
        if value is None:
            return False
        if isinstance(value, list):
            if op in ("!=", "<>"):
                return not any(_compare(element, "=", literal) for element in value)
            return any(_compare(element, op, literal) for element in value)
        return _compare(value, op, literal)

    return match


def _compile_in(field: str, values: list[Any], negated: bool) -> Matcher:
    def match(obj: Any) -> bool:
        if not isinstance(obj, dict):
            return False
        value = obj.get(field)
        if value is None:
            return False
        candidates = value if isinstance(value, list) else [value]
        found = any(_compare(c, "=", literal) for c in candidates for literal in values)
        return found != negated

    return match


def _compile_empty(field: str, negated: bool) -> Matcher:
    def match(obj: Any) -> bool:
        if not isinstance(obj, dict):
            return False
        value = obj.get(field)
        if not isinstance(value, list | dict | str):
            return False
        return (len(value) == 0) != negated

    return match


def _compile_contains(field: str, mode: str, values: list[Any]) -> Matcher:
    def has(container: list[Any], literal: Any) -> bool:
        return any(_compare(element, "=", literal) for element in container)

    def match(obj: Any) -> bool:
        if not isinstance(obj, dict):
            return False
        value = obj.get(field)
        if value is None:
            return False
        container = value if isinstance(value, list) else [value]
        if mode == "all":
            return all(has(container, literal) for literal in values)
        return any(has(container, literal) for literal in values)

    return match


# -- public API -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """A key range on one indexed top-level field (``None`` ends are open)."""

    low: str | None = None
    low_inclusive: bool = True
    high: str | None = None
    high_inclusive: bool = True

    def intersect(self, other: Bounds) -> Bounds:
        low, low_inc = self.low, self.low_inclusive
        if other.low is not None and (
            low is None or other.low > low or (other.low == low and not other.low_inclusive)
        ):
            low, low_inc = other.low, other.low_inclusive
        high, high_inc = self.high, self.high_inclusive
        if other.high is not None and (
            high is None or other.high < high or (other.high == high and not other.high_inclusive)
        ):
            high, high_inc = other.high, other.high_inclusive
        return Bounds(low, low_inc, high, high_inc)

    def union(self, other: Bounds) -> Bounds:
        low: str | None = None
        low_inc = True
        if self.low is not None and other.low is not None:
            low = min(self.low, other.low)
            low_inc = (self.low == low and self.low_inclusive) or (other.low == low and other.low_inclusive)
        high: str | None = None
        high_inc = True
        if self.high is not None and other.high is not None:
            high = max(self.high, other.high)
            high_inc = (self.high == high and self.high_inclusive) or (
                other.high == high and other.high_inclusive
            )
        return Bounds(low, low_inc, high, high_inc)


_OPEN = Bounds()


@dataclass
class CompiledQuery:
    """All ``where`` parameters of one request, AND-ed, ready to evaluate."""

    matcher: Matcher
    conjuncts: list[Node]
    context: _Context

    def exact_keys(self, field: str) -> set[str] | None:
        """The only values ``field`` can have in a match (``field in (...)`` / ``field = "x"``
        among the AND-ed conjuncts), or ``None`` when no conjunct pins it. A dotted ``field``
        (``resource.id``) looks inside nested predicates (``resource(id in (...))``)."""
        result: set[str] | None = None
        for node in self.conjuncts:
            keys = self._pins(node, field)
            if keys is not None:
                result = keys if result is None else result & keys
        return result

    def _pins(self, node: Node, field: str) -> set[str] | None:
        if isinstance(node, And):
            result: set[str] | None = None
            for sub in node.items:
                keys = self._pins(sub, field)
                if keys is not None:
                    result = keys if result is None else result & keys
            return result
        head, _, rest = field.partition(".")
        if rest and isinstance(node, Nested) and node.field == head:
            return self._pins(node.item, rest)
        if isinstance(node, InList) and node.field == field and not node.negated:
            values = [v for lit in node.values for v in self.context.resolve(lit)]
            if all(isinstance(v, str) for v in values):
                return {str(v) for v in values}
        elif isinstance(node, Compare) and node.field == field and node.op == "=":
            value = self.context.resolve_one(node.value)
            if isinstance(value, str):
                return {value}
        return None

    def bounds(self, field: str) -> Bounds | None:
        """The key range on ``field`` every match lies in, or ``None`` when nothing narrows it.

        ``createdAt > "t"`` and ``(createdAt > "t" or (createdAt = "t" and id > "x"))`` both give
        ``[t, …)``: AND intersects ranges, OR unites them (only if every branch is bounded).
        """
        result = _OPEN
        for node in self.conjuncts:
            found = self._node_bounds(node, field)
            if found is not None:
                result = result.intersect(found)
        return None if result == _OPEN else result

    def _node_bounds(self, node: Node, field: str) -> Bounds | None:
        if isinstance(node, And):
            parts = [b for b in (self._node_bounds(item, field) for item in node.items) if b is not None]
            result = _OPEN
            for part in parts:
                result = result.intersect(part)
            return result if parts else None
        if isinstance(node, Or):
            branches = [self._node_bounds(item, field) for item in node.items]
            if any(b is None for b in branches):
                return None
            united = branches[0]
            assert united is not None
            for branch in branches[1:]:
                assert branch is not None
                united = united.union(branch)
            return united
        if not isinstance(node, Compare) or node.field != field or node.op not in ("=", ">", ">=", "<", "<="):
            return None
        value = self.context.resolve_one(node.value)
        if not isinstance(value, str):
            return None
        value = str(value)
        low = Bounds(value, node.op != ">") if node.op in ("=", ">", ">=") else _OPEN
        high = Bounds(None, True, value, node.op != "<") if node.op in ("=", "<", "<=") else _OPEN
        return low.intersect(high)


def _flatten_and(node: Node) -> list[Node]:
    if isinstance(node, And):
        return [part for item in node.items for part in _flatten_and(item)]
    return [node]


def compile_where(
    predicates: Sequence[str], schema: Schema | None, variables: Mapping[str, Sequence[str]]
) -> CompiledQuery | None:
    """Parse and compile every ``where`` parameter; ``None`` when there is none."""
    if not predicates:
        return None
    ctx = _Context(variables)
    conjuncts: list[Node] = []
    for source in predicates:
        conjuncts.extend(_flatten_and(parse(source)))
    matchers = [_compile(node, schema, ctx) for node in conjuncts]
    if len(matchers) == 1:
        return CompiledQuery(matchers[0], conjuncts, ctx)
    return CompiledQuery(lambda obj: all(m(obj) for m in matchers), conjuncts, ctx)
