"""Payload utilities: JSON normalisation, a stable hash, and a field-level diff.

The engine stores the last delivered payload and its hash per (record, target): an unchanged hash
means "nothing to send"; otherwise :func:`diff_payloads` says what changed (for the sync log, for
``mapping preview`` and for targets whose PATCH semantics need explicit removals).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel

_INT64_MIN, _INT64_MAX = -(2**63), 2**64 - 1


def projection_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 hex of the payload as canonical JSON (sorted keys): the same payload, the same hash.

    Key order never matters. Values that orjson cannot encode natively (integers beyond 64 bits)
    fall back to the standard library encoder, which is equally deterministic.
    """
    try:
        body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=_default)
    except TypeError:
        body = json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
        ).encode()
    return hashlib.sha256(body).hexdigest()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def to_json_value(value: Any, warn: Callable[[str], None], where: str = "") -> Any:
    """Turn an outbound value into plain JSON, dropping null/blank/empty members of objects.

    The canonical record may hold dates, decimals, enums or models; the payload must be something
    any JSON encoder (and :func:`projection_hash`) accepts, and must omit empty values the same way
    at every depth so that equal data always yields equal payloads.
    """
    cls = value.__class__
    if cls is str or cls is bool or cls is float or value is None:
        return value
    if cls is dict:
        return _json_object(value, warn, where)
    if cls is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        warn(f"{where or 'value'}: integer beyond 64 bits sent as text")
        return str(value)
    if isinstance(value, Mapping):
        return _json_object(value, warn, where)
    if isinstance(value, list | tuple):
        return [to_json_value(item, warn, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, warn, where)
    if isinstance(value, int):  # int subclasses (bool is handled above: it cannot be subclassed)
        return to_json_value(int(value), warn, where)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, BaseModel):
        return to_json_value(value.model_dump(mode="json", exclude_none=True), warn, where)
    if isinstance(value, set | frozenset):
        return [to_json_value(item, warn, where) for item in sorted(value, key=repr)]
    warn(f"{where or 'value'}: {type(value).__name__} sent as text")
    return str(value)


def _json_object(value: Mapping[Any, Any], warn: Callable[[str], None], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        cls = item.__class__
        if cls is str:
            if not item or item.isspace():
                continue
        elif item is None:
            continue
        elif not (cls is bool or cls is float):
            item = to_json_value(item, warn, f"{where}.{key}" if where else str(key))
            if _blank(item):
                continue
        out[key if key.__class__ is str else str(key)] = item
    return out


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, dict | list):
        return not value
    return False


ChangeKind = Literal["added", "changed", "removed"]


@dataclasses.dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed leaf, addressed with a dot path (``location.city``).

    Keys containing ``.`` or ``\\`` are escaped with a backslash so that a path names exactly one
    field. Lists are compared whole; an empty object is a leaf of its own.
    """

    path: str
    old: Any
    new: Any
    kind: ChangeKind


def _escape(key: Any) -> str:
    text = str(key)
    if "\\" in text or "." in text:
        text = text.replace("\\", "\\\\").replace(".", "\\.")
    return text


def _flatten(value: Mapping[str, Any], prefix: str | None, out: dict[str, Any]) -> dict[str, Any]:
    for key, item in value.items():
        path = _escape(key) if prefix is None else f"{prefix}.{_escape(key)}"
        if isinstance(item, Mapping) and item:
            _flatten(item, path, out)
        else:
            out[path] = item
    return out


def same_value(a: Any, b: Any) -> bool:
    """Equality that also distinguishes JSON types (``1`` ≠ ``1.0`` ≠ ``true``), as the target would."""
    if a.__class__ is not b.__class__:
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return bool(a.hex() == b.hex())  # -0.0 is not 0.0 on the wire; NaN is NaN
    return bool(a == b)


def diff_payloads(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[FieldChange]:
    """Leaf-level changes from ``old`` (``None`` = never delivered) to ``new``, sorted by path.

    The result is empty exactly when the payloads are equal (JSON-type-strict, see :func:`same_value`).
    """
    before = _flatten(old or {}, None, {})
    after = _flatten(new, None, {})
    changes: list[FieldChange] = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            changes.append(FieldChange(path, None, after[path], "added"))
        elif path not in after:
            changes.append(FieldChange(path, before[path], None, "removed"))
        elif not same_value(before[path], after[path]):
            changes.append(FieldChange(path, before[path], after[path], "changed"))
    return changes
