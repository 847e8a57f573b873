"""Klaviyo's ``filter`` query language: a real parser, per-endpoint validation, evaluation.

Syntax (https://developers.klaviyo.com/en/reference/api-overview#filtering)::

    filter     := expression ("," expression)*            # top-level commas mean AND
    expression := and(expr, ...) | or(expr, ...) | not(expr) | has(field)
                | operator(field, value)
    value      := "string" | 'string' | number | true | false | null
                | 2023-04-19T00:00:00Z (unquoted date-time) | [value, ...]

Each endpoint allows a fixed set of fields and operators (``x-klaviyo-filters`` in the spec); any
other field, operator or value type is a 400 with ``source.parameter = "filter"``, as on the real API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmsync.emulators.klaviyo.errors import ApiError, invalid
from crmsync.emulators.klaviyo.ids import parse_datetime

COMPARISONS = {"equals", "less-than", "less-or-equal", "greater-than", "greater-or-equal"}
STRING_OPS = {"contains", "contains-any", "contains-all", "starts-with", "ends-with"}
LOGICAL = {"and", "or", "not"}
ALL_OPERATORS = COMPARISONS | STRING_OPS | LOGICAL | {"any", "has"}


def filter_error(detail: str) -> ApiError:
    return invalid(detail, parameter="filter")


@dataclass(frozen=True, slots=True)
class Condition:
    op: str
    field: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # and | or | not
    children: tuple[Node, ...]


Node = Condition | Logical


class _Parser:
    """Recursive descent over the raw filter string (no regex tricks: nested lists and quotes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> list[Node]:
        nodes = [self._expression()]
        self._ws()
        while self._peek() == ",":
            self.pos += 1
            nodes.append(self._expression())
            self._ws()
        if self.pos != len(self.text):
            raise filter_error(f"Unexpected character {self.text[self.pos]!r} at position {self.pos}.")
        return nodes

    # -- lexical helpers ----------------------------------------------------------------------
    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def _expect(self, char: str) -> None:
        self._ws()
        if self._peek() != char:
            found = self._peek() or "end of filter"
            raise filter_error(f"Expected {char!r} at position {self.pos}, found {found!r}.")
        self.pos += 1

    def _name(self) -> str:
        self._ws()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "_-.$"):
            self.pos += 1
        if start == self.pos:
            raise filter_error(f"Expected an operator or field name at position {start}.")
        return self.text[start : self.pos]

    # -- grammar --------------------------------------------------------------------------------
    def _expression(self) -> Node:
        op = self._name()
        if op not in ALL_OPERATORS:
            raise filter_error(f"'{op}' is not a valid filter operator.")
        self._expect("(")
        node: Node
        if op in LOGICAL:
            children = [self._expression()]
            self._ws()
            while self._peek() == ",":
                self.pos += 1
                children.append(self._expression())
                self._ws()
            if op == "not" and len(children) != 1:
                raise filter_error("'not' takes exactly one expression.")
            node = Logical(op, tuple(children))
        elif op == "has":
            node = Condition(op, self._name())
        else:
            name = self._name()
            self._expect(",")
            node = Condition(op, name, self._value())
        self._expect(")")
        return node

    def _value(self) -> Any:
        self._ws()
        char = self._peek()
        if char in ('"', "'"):
            return self._string(char)
        if char == "[":
            self.pos += 1
            items: list[Any] = []
            self._ws()
            if self._peek() == "]":
                self.pos += 1
                return items
            while True:
                items.append(self._value())
                self._ws()
                if self._peek() == ",":
                    self.pos += 1
                    continue
                self._expect("]")
                return items
        return self._bare()

    def _string(self, quote: str) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise filter_error("Unterminated string in filter.")

    def _bare(self) -> Any:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",)] \t":
            self.pos += 1
        token = self.text[start : self.pos]
        if not token:
            raise filter_error(f"Expected a value at position {start}.")
        if token in ("true", "false"):
            return token == "true"
        if token == "null":
            return None
        try:
            return int(token)
        except ValueError:
            pass
        try:
            return float(token)
        except ValueError:
            pass
        moment = parse_datetime(token)
        if moment is None:
            raise filter_error(f"Invalid value {token!r}: strings must be quoted.")
        return moment


def parse(text: str) -> list[Node]:
    """Parse a filter string into its top-level (AND-ed) expressions."""
    if not text.strip():
        raise filter_error("The filter parameter must not be empty.")
    return _Parser(text).parse()


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What one endpoint allows for one field: operators, and the value type they compare."""

    ops: frozenset[str]
    kind: str = "string"  # string | datetime | number | bool
    list_ops: frozenset[str] = field(default_factory=frozenset)
    fold_case: bool = False  # compare lower-cased (emails)
    #: The getter returns a collection (an item's category ids): a condition holds when it holds
    #: for any member, so ``equals(category.id,"X")`` means "is in category X".
    multi: bool = False


Getter = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class Filter:
    """A validated filter: top-level conditions (for index lookups) and a predicate."""

    nodes: tuple[Node, ...]
    predicate: Callable[[Getter], bool]

    def top_level(self) -> list[Condition]:
        return [n for n in self.nodes if isinstance(n, Condition)]


def _coerce(cond: Condition, spec: FieldSpec, resource: str) -> Condition:
    """Check the operator and value type of one condition against the endpoint's field spec."""
    if cond.op not in spec.ops:
        raise filter_error(
            f"'{cond.op}' is not a valid operator for the field '{cond.field}' on '{resource}'."
        )
    if cond.op == "has":
        return cond
    value = cond.value
    if isinstance(value, list):
        if cond.op != "any" and cond.op not in spec.list_ops:
            raise filter_error(
                f"The operator '{cond.op}' does not accept a list for the field '{cond.field}'."
            )
        return Condition(cond.op, cond.field, [_scalar(cond, v, spec) for v in value])
    if cond.op == "any":
        raise filter_error(f"The operator 'any' requires a list value for the field '{cond.field}'.")
    return Condition(cond.op, cond.field, _scalar(cond, value, spec))


def _scalar(cond: Condition, value: Any, spec: FieldSpec) -> Any:
    if spec.kind == "datetime":
        if isinstance(value, str):
            parsed = parse_datetime(value)
            if parsed is None:
                raise filter_error(f"Invalid date-time {value!r} for the field '{cond.field}'.")
            return parsed
        if not isinstance(value, datetime):
            raise filter_error(f"The field '{cond.field}' takes a date-time value.")
        return value
    if spec.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise filter_error(f"The field '{cond.field}' takes a numeric value.")
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise filter_error(f"The field '{cond.field}' takes a boolean value.")
        return value
    if not isinstance(value, str):
        raise filter_error(f"The field '{cond.field}' takes a string value; strings must be quoted.")
    return value.lower() if spec.fold_case else value


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "any":
        return actual in expected
    if op == "equals":
        return actual in expected if isinstance(expected, list) else actual == expected
    if actual is None:
        return False
    try:
        if op == "greater-than":
            return bool(actual > expected)
        if op == "greater-or-equal":
            return bool(actual >= expected)
        if op == "less-than":
            return bool(actual < expected)
        if op == "less-or-equal":
            return bool(actual <= expected)
    except TypeError:
        return False
    text = str(actual)
    if op == "contains":
        return str(expected) in text
    if op == "starts-with":
        return text.startswith(str(expected))
    if op == "ends-with":
        return text.endswith(str(expected))
    values = actual if isinstance(actual, list) else [actual]
    if op == "contains-any":
        return any(v in values for v in expected)
    if op == "contains-all":
        return all(v in values for v in expected)
    return False


def _build(
    node: Node, specs: Mapping[str, FieldSpec], resource: str
) -> tuple[Node, Callable[[Getter], bool]]:
    if isinstance(node, Logical):
        built = [_build(child, specs, resource) for child in node.children]
        preds = [p for _, p in built]
        checked = Logical(node.op, tuple(n for n, _ in built))
        if node.op == "and":
            return checked, lambda get: all(p(get) for p in preds)
        if node.op == "or":
            return checked, lambda get: any(p(get) for p in preds)
        only = preds[0]
        return checked, lambda get: not only(get)
    spec = specs.get(node.field)
    if spec is None:
        raise filter_error(f"'{node.field}' is not a valid field for the resource '{resource}'.")
    cond = _coerce(node, spec, resource)
    if cond.op == "has":
        return cond, lambda get: get(cond.field) is not None
    op, name, expected = cond.op, cond.field, cond.value
    if spec.multi:
        return cond, lambda get: any(_compare(op, member, expected) for member in get(name) or ())
    return cond, lambda get: _compare(op, get(name), expected)


def compile_filter(text: str, specs: Mapping[str, FieldSpec], resource: str) -> Filter:
    """Parse and validate ``text`` for an endpoint whose allowed fields are ``specs``."""
    built = [_build(node, specs, resource) for node in parse(text)]
    preds = [p for _, p in built]
    nodes = tuple(n for n, _ in built)
    if len(preds) == 1:
        return Filter(nodes, preds[0])
    return Filter(nodes, lambda get: all(p(get) for p in preds))


def spec(
    ops: str, kind: str = "string", list_ops: str = "", *, fold_case: bool = False, multi: bool = False
) -> FieldSpec:
    """Shorthand: ``spec("any equals")`` -> FieldSpec with those operators."""
    return FieldSpec(frozenset(ops.split()), kind, frozenset(list_ops.split()), fold_case, multi)
