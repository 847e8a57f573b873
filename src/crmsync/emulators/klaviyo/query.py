"""Query parameters shared by collection endpoints: page[size], page[cursor], sort, fields, include.

Pagination is keyset-based like Klaviyo's: the opaque cursor encodes the sort key of the last item
served, so inserts between pages neither skip nor repeat items. ``links.next`` is a full URL on the
emulator's origin; because the official SDK only strips ``https://`` URLs down to the cursor, a full
URL passed as the ``page[cursor]`` value is accepted too.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from crmsync.emulators.klaviyo.errors import ApiError, invalid
from crmsync.emulators.klaviyo.ids import iso

T = TypeVar("T")
SortKey = tuple[bool, str, str]


def page_size(query: Mapping[str, str], *, default: int, maximum: int) -> int:
    raw = query.get("page[size]")
    if raw is None:
        return default
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        raise invalid(f"page[size] must be an integer between 1 and {maximum}.", parameter="page[size]")
    return size


def _cursor_error() -> ApiError:
    # Real Klaviyo answers a bad cursor with this pointer (klaviyo-api-python issue #9).
    return invalid("Invalid cursor provided.", pointer="/data/")


@dataclass(frozen=True, slots=True)
class Cursor:
    sort: str
    key: SortKey


def encode_cursor(sort: str, key: SortKey) -> str:
    raw = json.dumps([sort, key[0], key[1], key[2]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(query: Mapping[str, str], sort: str) -> Cursor | None:
    raw = query.get("page[cursor]")
    if raw is None or raw == "":
        return None
    if "://" in raw or raw.startswith("/"):
        # A whole links.next URL (the SDK forwards http:// URLs untouched).
        values = parse_qs(urlsplit(raw).query).get("page[cursor]")
        if not values:
            raise _cursor_error()
        raw = values[0]
    try:
        padded = raw + "=" * (-len(raw) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _cursor_error() from exc
    if (
        not isinstance(decoded, list)
        or len(decoded) != 4
        or decoded[0] != sort
        or not isinstance(decoded[1], bool)
        or not all(isinstance(v, str) for v in decoded[2:])
    ):
        raise _cursor_error()
    return Cursor(sort, (decoded[1], decoded[2], decoded[3]))


def sort_value(value: Any) -> tuple[bool, str]:
    """Nones sort last; datetimes compare as their (fixed-format) ISO strings."""
    if value is None:
        return (True, "")
    if isinstance(value, datetime):
        return (False, iso(value) or "")
    return (False, str(value))


def parse_sort(query: Mapping[str, str], allowed: Iterable[str], default: str) -> tuple[str, bool]:
    """Return (field, descending)."""
    raw = query.get("sort", default)
    name = raw[1:] if raw.startswith("-") else raw
    if name not in allowed:
        raise invalid(f"'{raw}' is not a valid sort field.", parameter="sort")
    return name, raw.startswith("-")


def parse_list(query: Mapping[str, str], name: str, allowed: Iterable[str] | None = None) -> list[str] | None:
    raw = query.get(name)
    if raw is None:
        return None
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if allowed is not None:
        allowed_set = set(allowed)
        for item in items:
            if item not in allowed_set:
                raise invalid(f"'{item}' is not a valid value for {name}.", parameter=name)
    return items


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    next_key: SortKey | None


def keyset_page(
    items: Sequence[T], key: Callable[[T], SortKey], *, size: int, descending: bool, after: SortKey | None
) -> Page[T]:
    """Sort ``items`` by ``key`` and return the ``size`` items following the cursor key."""
    ordered = sorted(items, key=key, reverse=descending)
    start = 0
    if after is not None:
        keys = [key(item) for item in ordered]
        if descending:
            start = next((i for i, k in enumerate(keys) if k < after), len(keys))
        else:
            start = bisect_right(keys, after)
    window = list(ordered[start : start + size + 1])
    if len(window) > size:
        return Page(window[:size], key(window[size - 1]))
    return Page(window, None)


def scan_page(
    ids: Iterable[str],
    load: Callable[[str], T | None],
    accept: Callable[[T], bool],
    key: Callable[[T], SortKey],
    size: int,
) -> Page[T]:
    """Walk an already ordered id stream, keep accepted items, stop after ``size`` + 1 matches."""
    out: list[T] = []
    for item_id in ids:
        item = load(item_id)
        if item is None or not accept(item):
            continue
        if len(out) == size:
            return Page(out, key(out[-1]))
        out.append(item)
    return Page(out, None)


def next_link(request: web.Request, sort: str, key: SortKey | None) -> str | None:
    if key is None:
        return None
    url = request.url.update_query({"page[cursor]": encode_cursor(sort, key)})
    return str(url)
