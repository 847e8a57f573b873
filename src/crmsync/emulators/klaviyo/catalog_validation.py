"""Request-body validation for catalog items and categories (single writes and bulk job members).

Shapes and types follow the spec's ``CatalogItemCreateQueryResourceObject``,
``CatalogItemUpdateQueryResourceObject``, ``CatalogCategoryCreateQueryResourceObject`` and
``CatalogCategoryUpdateQueryResourceObject``: on create ``external_id, title, description, url``
(items) and ``external_id, name`` (categories) are required; ``integration_type`` may only be
``$custom`` and ``catalog_type`` only ``$default``; ``custom_metadata`` may not exceed 100 KB.
Updates carry neither ``external_id`` nor the types — sending them is a 400 like any unknown
attribute. Every failure is a 400 ``invalid`` whose ``source.pointer`` names the member, with the
caller's prefix (``/data`` for single writes, ``/data/attributes/items/data/3`` in bulk jobs).
"""

from __future__ import annotations

import math
from typing import Any

from crmsync.emulators.klaviyo.catalog_store import CATALOG_TYPE, INTEGRATION_TYPE, ITEM_FIELDS
from crmsync.emulators.klaviyo.errors import invalid
from crmsync.emulators.klaviyo.validation import encoded_size

ITEM = "catalog-item"
CATEGORY = "catalog-category"
MAX_METADATA_BYTES = 100 * 1024
_STRINGS = ("title", "description", "url", "image_full_url", "image_thumbnail_url")
_ITEM_REQUIRED = ("external_id", "title", "description", "url")
#: Sentinel: the attribute was absent (leave unchanged), as opposed to ``null`` (clear).
ABSENT: Any = ...


def _attributes(data: dict[str, Any], pointer: str) -> dict[str, Any]:
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid("'attributes' is required and must be an object.", pointer=f"{pointer}/attributes")
    return attributes


def _required_string(attributes: dict[str, Any], name: str, pointer: str) -> str:
    value = attributes.get(name)
    if not isinstance(value, str) or (name in ("external_id", "name") and not value.strip()):
        raise invalid(f"'{name}' is required and must be a non-empty string.", pointer=f"{pointer}/{name}")
    return value


def _types(attributes: dict[str, Any], pointer: str) -> None:
    integration = attributes.get("integration_type")
    if integration is not None and integration != INTEGRATION_TYPE:
        raise invalid(
            f"Invalid integration_type {integration!r}: only '{INTEGRATION_TYPE}' is supported.",
            pointer=f"{pointer}/integration_type",
        )
    catalog = attributes.get("catalog_type")
    if catalog is not None and catalog != CATALOG_TYPE:
        raise invalid(
            f"Invalid catalog_type {catalog!r}: only '{CATALOG_TYPE}' is supported.",
            pointer=f"{pointer}/catalog_type",
        )


def _item_field(name: str, value: Any, pointer: str) -> Any:
    where = f"{pointer}/{name}"
    if value is None:
        return None
    if name in _STRINGS:
        if not isinstance(value, str):
            raise invalid(f"'{name}' must be a string.", pointer=where)
    elif name == "price":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise invalid("'price' must be a number.", pointer=where)
    elif name == "images":
        if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
            raise invalid("'images' must be an array of strings.", pointer=where)
        value = list(value)
    elif name == "custom_metadata":
        if not isinstance(value, dict):
            raise invalid("'custom_metadata' must be an object.", pointer=where)
        if encoded_size(value) > MAX_METADATA_BYTES:
            raise invalid("'custom_metadata' may not exceed 100kb.", pointer=where)
        value = dict(value)
    elif name == "published" and not isinstance(value, bool):
        raise invalid("'published' must be a boolean.", pointer=where)
    return value


def _item_fields(attributes: dict[str, Any], allowed: frozenset[str], pointer: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        if name not in allowed:
            raise invalid(
                f"'{name}' is not a valid field for the resource '{ITEM}'.", pointer=f"{pointer}/{name}"
            )
        if name in ITEM_FIELDS:
            out[name] = _item_field(name, value, pointer)
    return out


def linkage(value: Any, expected_type: str, pointer: str) -> list[str]:
    """``{"data": [{"type": ..., "id": ...}, ...]}`` -> ids (duplicates dropped, order kept)."""
    entries = value.get("data") if isinstance(value, dict) else None
    if not isinstance(entries, list):
        raise invalid("A relationship must be an object with a 'data' array.", pointer=f"{pointer}/data")
    out: dict[str, None] = {}
    for index, entry in enumerate(entries):
        where = f"{pointer}/data/{index}"
        if not isinstance(entry, dict) or entry.get("type") != expected_type:
            raise invalid(
                f"Each entry must be {{'type': '{expected_type}', 'id': ...}}.", pointer=f"{where}/type"
            )
        if not isinstance(entry.get("id"), str) or not entry["id"]:
            raise invalid("Each entry must have a string 'id'.", pointer=f"{where}/id")
        out[entry["id"]] = None
    return list(out)


def relationship(data: dict[str, Any], name: str, expected_type: str, pointer: str) -> list[str] | None:
    """Ids of ``data.relationships.<name>``; None when the relationship is absent."""
    relationships = data.get("relationships")
    if relationships is None:
        return None
    if not isinstance(relationships, dict):
        raise invalid("'relationships' must be an object.", pointer=f"{pointer}/relationships")
    for key in relationships:
        if key != name:
            raise invalid(
                f"'{key}' is not a valid relationship here.", pointer=f"{pointer}/relationships/{key}"
            )
    if name not in relationships:
        return None
    return linkage(relationships[name], expected_type, f"{pointer}/relationships/{name}")


def item_create(data: dict[str, Any], pointer: str = "/data") -> tuple[str, dict[str, Any], list[str] | None]:
    """(external_id, attributes, category ids or None) of a create query's resource object."""
    base = f"{pointer}/attributes"
    attributes = _attributes(data, pointer)
    for name in _ITEM_REQUIRED:
        _required_string(attributes, name, base)
    _types(attributes, base)
    allowed = frozenset((*ITEM_FIELDS, "external_id", "integration_type", "catalog_type"))
    fields = _item_fields(attributes, allowed, base)
    if fields.get("published", True) is None:
        del fields["published"]  # null means "use the default" (true) on create
    categories = relationship(data, "categories", CATEGORY, pointer)
    return attributes["external_id"], fields, categories


def item_update(data: dict[str, Any], pointer: str = "/data") -> tuple[dict[str, Any], list[str] | None]:
    """(present attributes, category ids or None) of an update query's resource object."""
    attributes = _attributes(data, pointer)
    fields = _item_fields(attributes, frozenset(ITEM_FIELDS), f"{pointer}/attributes")
    return fields, relationship(data, "categories", CATEGORY, pointer)


def category_create(data: dict[str, Any], pointer: str = "/data") -> tuple[str, str, list[str] | None]:
    """(external_id, name, item ids or None) of a category create query's resource object."""
    base = f"{pointer}/attributes"
    attributes = _attributes(data, pointer)
    external_id = _required_string(attributes, "external_id", base)
    name = _required_string(attributes, "name", base)
    _types(attributes, base)
    for key in attributes:
        if key not in ("external_id", "name", "integration_type", "catalog_type"):
            raise invalid(
                f"'{key}' is not a valid field for the resource '{CATEGORY}'.", pointer=f"{base}/{key}"
            )
    return external_id, name, relationship(data, "items", ITEM, pointer)


def category_update(data: dict[str, Any], pointer: str = "/data") -> tuple[Any, list[str] | None]:
    """(name, or ABSENT, or None to clear; item ids or None) of a category update query."""
    base = f"{pointer}/attributes"
    attributes = _attributes(data, pointer)
    for key in attributes:
        if key != "name":
            raise invalid(
                f"'{key}' is not a valid field for the resource '{CATEGORY}'.", pointer=f"{base}/{key}"
            )
    name = attributes.get("name", ABSENT)
    if name is not ABSENT and name is not None and not isinstance(name, str):
        raise invalid("'name' must be a string.", pointer=f"{base}/name")
    return name, relationship(data, "items", ITEM, pointer)
