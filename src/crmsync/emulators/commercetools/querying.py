"""Collection queries: ``where`` / ``sort`` / ``limit`` / ``offset`` / ``withTotal`` and the paged response.

The planner keeps large collections fast: when the primary sort field (or a range in the ``where``)
is backed by an ordered index — customer ``id``, message ``createdAt`` — candidates are read from the
index range instead of scanning everything, and with ``withTotal=false`` the scan stops as soon as
the page is full. The recommended "iterate over all elements" pattern
(``sort=id asc&where=id > "<last>"&withTotal=false``) therefore costs O(log n + page).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .predicate import PredicateError
from .predicate_eval import Bounds, CompiledQuery, Schema, compile_where

_INTEGER = re.compile(r"^-?[0-9]{1,18}$")
_SORT_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_LIMIT = 20
MAX_LIMIT = 500
MAX_OFFSET = 10_000


@dataclass(frozen=True)
class SortSpec:
    path: tuple[str, ...]
    descending: bool


@dataclass
class QueryParams:
    where: list[str] = field(default_factory=list)
    sort: list[SortSpec] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    with_total: bool = True
    variables: dict[str, list[str]] = field(default_factory=dict)


def parse_int(name: str, raw: str) -> int:
    """A plain ASCII integer (``int()`` alone would also take "1_000" or non-ASCII digits)."""
    if not _INTEGER.match(raw):
        raise errors.malformed_parameter(name, f"Invalid int value '{raw}'.")
    return int(raw)


def _int_param(name: str, raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return default
    value = parse_int(name, raw)
    if value < 0:
        raise errors.malformed_parameter(name, "Must be greater than or equal to 0.")
    if value > maximum:
        raise errors.malformed_parameter(name, f"Must be less than or equal to {maximum}.")
    return value


def parse_sort(raw: str) -> SortSpec:
    parts = raw.split()
    if not parts or len(parts) > 2:
        raise errors.malformed_parameter("sort", f"Invalid sort expression '{raw}'.")
    direction = parts[1].lower() if len(parts) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise errors.malformed_parameter("sort", f"Invalid sort direction '{parts[1]}' in '{raw}'.")
    path = tuple(parts[0].split("."))
    if any(not _SORT_FIELD.match(p) for p in path):
        raise errors.malformed_parameter("sort", f"Invalid sort field '{parts[0]}'.")
    return SortSpec(path, direction == "desc")


def parse_query_params(query: Mapping[str, str], getall: Callable[[str], list[str]]) -> QueryParams:
    """Read the standard collection parameters from a request's query string."""
    with_total_raw = query.get("withTotal")
    if with_total_raw is not None and with_total_raw.lower() not in ("true", "false"):
        raise errors.malformed_parameter("withTotal", f"Invalid boolean value '{with_total_raw}'.")
    variables: dict[str, list[str]] = {}
    for name in query:
        if name.startswith("var.") and len(name) > 4:
            variables[name[4:]] = getall(name)
    return QueryParams(
        where=getall("where"),
        sort=[parse_sort(s) for s in getall("sort")],
        limit=_int_param("limit", query.get("limit"), DEFAULT_LIMIT, MAX_LIMIT),
        offset=_int_param("offset", query.get("offset"), 0, MAX_OFFSET),
        with_total=with_total_raw is None or with_total_raw.lower() == "true",
        variables=variables,
    )


def compile_params(params: QueryParams, schema: Schema | None) -> CompiledQuery | None:
    try:
        return compile_where(params.where, schema, params.variables)
    except PredicateError as exc:
        if exc.complexity:
            raise errors.CtApiError(400, "QueryComplexityLimitExceeded", exc.message) from None
        raise errors.malformed_parameter("where", exc.message) from None
    except RecursionError:
        raise errors.CtApiError(
            400, "QueryComplexityLimitExceeded", "The query predicate is too complex."
        ) from None


# -- ordered indexes -------------------------------------------------------------------------------


class OrderedIndex:
    """Keys in ascending order with the item each key belongs to (duplicates allowed).

    ``append`` is O(1) for keys that arrive in order (time stamps); ``insert`` keeps order for random
    keys (UUIDs) with a binary search; ``remove`` drops one entry.
    """

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.items: list[Any] = []

    def __len__(self) -> int:
        return len(self.keys)

    def append(self, key: str, item: Any) -> None:
        if self.keys and key < self.keys[-1]:
            self.insert(key, item)
            return
        self.keys.append(key)
        self.items.append(item)

    def insert(self, key: str, item: Any) -> None:
        position = bisect.bisect_right(self.keys, key)
        self.keys.insert(position, key)
        self.items.insert(position, item)

    def extend(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """Add many entries at once (bulk loads): one sort instead of one O(n) insert per entry."""
        merged = list(zip(self.keys, self.items, strict=True))
        merged.extend(pairs)
        merged.sort(key=lambda pair: pair[0])
        self.keys = [key for key, _ in merged]
        self.items = [item for _, item in merged]

    def remove(self, key: str, match: Callable[[Any], bool]) -> None:
        position = bisect.bisect_left(self.keys, key)
        while position < len(self.keys) and self.keys[position] == key:
            if match(self.items[position]):
                del self.keys[position]
                del self.items[position]
                return
            position += 1

    def replace(self, key: str, old: Any, new: Any) -> None:
        """Swap the item stored under ``key`` (an update that keeps the key) in O(log n)."""
        position = bisect.bisect_left(self.keys, key)
        while position < len(self.keys) and self.keys[position] == key:
            if self.items[position] is old:
                self.items[position] = new
                return
            position += 1

    def lookup(self, keys: set[str]) -> list[tuple[str, Any]]:
        """The entries under exactly these keys, in key order (O(k log n), not a scan)."""
        found: list[tuple[str, Any]] = []
        for key in sorted(keys):
            position = bisect.bisect_left(self.keys, key)
            while position < len(self.keys) and self.keys[position] == key:
                found.append((key, self.items[position]))
                position += 1
        return found

    def scan(self, bounds: Bounds | None, descending: bool) -> Iterator[tuple[str, Any]]:
        start, stop = 0, len(self.keys)
        if bounds is not None:
            if bounds.low is not None:
                finder = bisect.bisect_left if bounds.low_inclusive else bisect.bisect_right
                start = finder(self.keys, bounds.low)
            if bounds.high is not None:
                finder = bisect.bisect_right if bounds.high_inclusive else bisect.bisect_left
                stop = finder(self.keys, bounds.high)
        positions: Iterable[int] = range(stop - 1, start - 1, -1) if descending else range(start, stop)
        keys, items = self.keys, self.items
        for position in positions:
            yield keys[position], items[position]


# -- execution ------------------------------------------------------------------------------------

_MISSING_RANK = 9


def _value_at(item: Any, path: tuple[str, ...]) -> Any:
    value = item
    for part in path:
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (_MISSING_RANK, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, str(value))


def sort_items(items: list[Any], specs: Sequence[SortSpec]) -> None:
    """Stable multi-key sort; missing values sort last ascending and first descending."""
    for spec in reversed(specs):

        def key(item: Any, path: tuple[str, ...] = spec.path) -> tuple[int, Any]:
            return _sort_key(_value_at(item, path))

        items.sort(key=key, reverse=spec.descending)


@dataclass
class Collection:
    """What the planner needs to know about one resource collection."""

    all_items: Callable[[], Iterable[Any]]
    indexes: Mapping[str, OrderedIndex]
    schema: Schema | None
    count: Callable[[], int]
    adapt: Callable[[Any], Any] | None = None  # view of an item for matching (query-only fields)

    def matcher(self, compiled: CompiledQuery | None) -> Callable[[Any], bool] | None:
        if compiled is None:
            return None
        match, adapt = compiled.matcher, self.adapt
        return match if adapt is None else (lambda item: match(adapt(item)))


def execute(collection: Collection, params: QueryParams, render: Callable[[Any], Any]) -> dict[str, Any]:
    """Run a query and build the ``PagedQueryResponse`` (``total`` only when ``withTotal``)."""
    compiled = compile_params(params, collection.schema)
    matcher = collection.matcher(compiled)
    needed = params.offset + params.limit
    index_field, descending = _choose_index(collection, params, compiled)
    exact = _exact_lookup(collection, compiled)
    total: int | None
    if exact is not None:
        selected = [item for _, item in exact if matcher is None or matcher(item)]
        total = len(selected)
    elif index_field is not None:
        bounds = compiled.bounds(index_field) if compiled is not None else None
        primary_sorted = bool(params.sort) and params.sort[0].path == (index_field,)
        pairs = collection.indexes[index_field].scan(bounds, descending)
        if primary_sorted and not params.with_total:
            selected = _collect_page(pairs, matcher, needed)
            total = None
        else:
            selected = [item for _, item in pairs if matcher is None or matcher(item)]
            total = len(selected)
    else:
        items = collection.all_items()
        selected = list(items) if matcher is None else [item for item in items if matcher(item)]
        total = len(selected)
    if params.sort:
        sort_items(selected, params.sort)
    page = selected[params.offset : needed]
    response: dict[str, Any] = {"limit": params.limit, "offset": params.offset, "count": len(page)}
    if params.with_total:
        response["total"] = total if total is not None else len(selected)
    response["results"] = [render(item) for item in page]
    return response


def exists(collection: Collection, params: QueryParams) -> bool:
    """``HEAD`` on a collection: does any resource match the ``where``?"""
    matcher = collection.matcher(compile_params(params, collection.schema))
    if matcher is None:
        return collection.count() > 0
    return any(matcher(item) for item in collection.all_items())


def _exact_lookup(collection: Collection, compiled: CompiledQuery | None) -> list[tuple[str, Any]] | None:
    """``id in ("a", "b")`` and the like: fetch those keys from the index instead of scanning."""
    if compiled is None:
        return None
    for name, index in collection.indexes.items():
        keys = compiled.exact_keys(name)
        if keys is not None:
            return index.lookup(keys)
    return None


def _choose_index(
    collection: Collection, params: QueryParams, compiled: CompiledQuery | None
) -> tuple[str | None, bool]:
    if params.sort:
        primary = params.sort[0]
        if len(primary.path) == 1 and primary.path[0] in collection.indexes:
            return primary.path[0], primary.descending
        return None, False
    if compiled is not None:
        for name in collection.indexes:
            if compiled.bounds(name) is not None:
                return name, False
    return None, False


def _collect_page(
    pairs: Iterator[tuple[str, Any]], matcher: Callable[[Any], bool] | None, needed: int
) -> list[Any]:
    """Matches in index order until the page is full *and* the key changes (ties sort by later keys)."""
    selected: list[Any] = []
    last_key: str | None = None
    for key, item in pairs:
        if len(selected) >= needed and key != last_key:
            break
        if matcher is None or matcher(item):
            selected.append(item)
            last_key = key
    return selected
