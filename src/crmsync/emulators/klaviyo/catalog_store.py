"""The account's catalog: items and categories of the ``$custom`` integration's ``$default`` catalog.

Faithful to the Catalogs API (spec revision 2026-07-15):

* ids are compound, ``{integration}:::{catalog}:::{external_id}``; the only integration type is
  ``$custom`` and the only catalog ``$default``, so an item with external id ``SKU-1`` is
  ``$custom:::$default:::SKU-1`` — known to the client before it is created;
* an external id names at most one item (and at most one category): creating it again is a 409;
* item <-> category membership is many-to-many and is kept on both sides, so "items of a category"
  and "categories of an item" read the same set; deleting either side drops its memberships;
* ``external_id`` of an existing item or category cannot change (update queries do not carry it).

All mutations run on the server's event loop under ``lock`` (shared with :class:`Store`), so test
threads reading snapshots never see a half-applied write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmsync.emulators.klaviyo.errors import ApiError, not_found
from crmsync.emulators.klaviyo.ids import now

INTEGRATION_TYPE = "$custom"
CATALOG_TYPE = "$default"
#: Item attributes a client can set (create query; all but external_id on update).
ITEM_FIELDS = (
    "title",
    "description",
    "url",
    "price",
    "image_full_url",
    "image_thumbnail_url",
    "images",
    "custom_metadata",
    "published",
)


def compound_id(external_id: str) -> str:
    return f"{INTEGRATION_TYPE}:::{CATALOG_TYPE}:::{external_id}"


@dataclass(slots=True)
class CatalogItem:
    id: str
    external_id: str
    created: datetime
    updated: datetime
    attributes: dict[str, Any] = field(default_factory=dict)  # ITEM_FIELDS values
    categories: dict[str, None] = field(default_factory=dict)  # ordered set of category ids

    def get(self, name: str) -> Any:
        """Field accessor used by filters (``ids``, ``category.id``, ``title``, ``published``)."""
        if name == "ids":
            return self.id
        if name == "category.id":
            return list(self.categories)
        return self.attributes.get(name)

    def snapshot(self) -> dict[str, Any]:
        """A plain-dict copy for tests (``emulator.catalog_items[id]``)."""
        return {
            "id": self.id,
            "external_id": self.external_id,
            "integration_type": INTEGRATION_TYPE,
            "catalog_type": CATALOG_TYPE,
            **{name: _copy(self.attributes.get(name)) for name in ITEM_FIELDS},
            "created": self.created,
            "updated": self.updated,
            "category_ids": sorted(self.categories),
        }


@dataclass(slots=True)
class CatalogCategory:
    id: str
    external_id: str
    name: str | None
    created: datetime
    updated: datetime
    items: dict[str, None] = field(default_factory=dict)  # ordered set of item ids

    def get(self, name: str) -> Any:
        if name == "ids":
            return self.id
        if name == "item.id":
            return list(self.items)
        if name == "name":
            return self.name
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "external_id": self.external_id,
            "integration_type": INTEGRATION_TYPE,
            "catalog_type": CATALOG_TYPE,
            "name": self.name,
            "created": self.created,
            "updated": self.updated,
            "item_ids": sorted(self.items),
        }


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def duplicate(kind: str, resource_id: str) -> ApiError:
    """409 ``conflict`` for a create whose external id is taken.

    The spec documents no dedicated code for this (unlike ``duplicate_profile``), so the generic
    JSON:API ``conflict`` is used; the detail names the existing id (clients must not parse it).
    """
    return ApiError(
        409,
        "conflict",
        f"A {kind} with id {resource_id} already exists.",
        pointer="/data/attributes/external_id",
    )


class CatalogStore:
    """Items and categories by compound id, with both sides of the membership relation."""

    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock
        self.items: dict[str, CatalogItem] = {}
        self.categories: dict[str, CatalogCategory] = {}

    # -- lookups ---------------------------------------------------------------------------------
    def item(self, item_id: str) -> CatalogItem:
        found = self.items.get(item_id)
        if found is None:
            raise not_found(f"A catalog item with id {item_id} does not exist.")
        return found

    def category(self, category_id: str) -> CatalogCategory:
        found = self.categories.get(category_id)
        if found is None:
            raise not_found(f"A catalog category with id {category_id} does not exist.")
        return found

    def require_items(self, ids: Iterable[str]) -> list[str]:
        """The ids, in order, after checking each names an existing item (404 otherwise)."""
        return [self.item(item_id).id for item_id in ids]

    def require_categories(self, ids: Iterable[str]) -> list[str]:
        return [self.category(category_id).id for category_id in ids]

    # -- items -----------------------------------------------------------------------------------
    def create_item(
        self, external_id: str, attributes: dict[str, Any], category_ids: list[str] | None = None
    ) -> CatalogItem:
        """Create an item; 409 if the external id is taken, 404 for an unknown category."""
        item_id = compound_id(external_id)
        if item_id in self.items:
            raise duplicate("catalog item", item_id)
        categories = self.require_categories(category_ids or [])
        moment = now()
        item = CatalogItem(item_id, external_id, moment, moment, {name: None for name in ITEM_FIELDS})
        item.attributes["published"] = True
        item.attributes.update(attributes)
        with self.lock:
            self.items[item_id] = item
            for category_id in categories:
                self._link(item, self.categories[category_id], moment)
        return item

    def update_item(
        self, item: CatalogItem, attributes: dict[str, Any], category_ids: list[str] | None = None
    ) -> CatalogItem:
        """Apply present attributes (``null`` clears); a categories relationship replaces the set."""
        categories = self.require_categories(category_ids) if category_ids is not None else None
        moment = now()
        with self.lock:
            item.attributes.update(attributes)
            item.updated = moment
            if categories is not None:
                self._replace_categories(item, categories, moment)
        return item

    def delete_item(self, item: CatalogItem) -> None:
        with self.lock:
            for category_id in list(item.categories):
                self.categories[category_id].items.pop(item.id, None)
            self.items.pop(item.id, None)

    # -- categories ------------------------------------------------------------------------------
    def create_category(
        self, external_id: str, name: str, item_ids: list[str] | None = None
    ) -> CatalogCategory:
        category_id = compound_id(external_id)
        if category_id in self.categories:
            raise duplicate("catalog category", category_id)
        items = self.require_items(item_ids or [])
        moment = now()
        category = CatalogCategory(category_id, external_id, name, moment, moment)
        with self.lock:
            self.categories[category_id] = category
            for item_id in items:
                self._link(self.items[item_id], category, moment)
        return category

    def update_category(
        self, category: CatalogCategory, name: Any = ..., item_ids: list[str] | None = None
    ) -> CatalogCategory:
        items = self.require_items(item_ids) if item_ids is not None else None
        moment = now()
        with self.lock:
            if name is not ...:
                category.name = name
            category.updated = moment
            if items is not None:
                self._replace_items(category, items, moment)
        return category

    def delete_category(self, category: CatalogCategory) -> None:
        with self.lock:
            for item_id in list(category.items):
                self.items[item_id].categories.pop(category.id, None)
            self.categories.pop(category.id, None)

    # -- relationships (the .../relationships/... endpoints) ---------------------------------------
    def add_items(self, category: CatalogCategory, item_ids: list[str]) -> None:
        items = self.require_items(item_ids)
        moment = now()
        with self.lock:
            for item_id in items:
                self._link(self.items[item_id], category, moment)

    def set_items(self, category: CatalogCategory, item_ids: list[str]) -> None:
        items = self.require_items(item_ids)
        with self.lock:
            self._replace_items(category, items, now())

    def remove_items(self, category: CatalogCategory, item_ids: list[str]) -> None:
        items = self.require_items(item_ids)
        moment = now()
        with self.lock:
            for item_id in items:
                self._unlink(self.items[item_id], category, moment)

    def add_categories(self, item: CatalogItem, category_ids: list[str]) -> None:
        categories = self.require_categories(category_ids)
        moment = now()
        with self.lock:
            for category_id in categories:
                self._link(item, self.categories[category_id], moment)

    def set_categories(self, item: CatalogItem, category_ids: list[str]) -> None:
        categories = self.require_categories(category_ids)
        with self.lock:
            self._replace_categories(item, categories, now())

    def remove_categories(self, item: CatalogItem, category_ids: list[str]) -> None:
        categories = self.require_categories(category_ids)
        moment = now()
        with self.lock:
            for category_id in categories:
                self._unlink(item, self.categories[category_id], moment)

    # -- internals (caller holds the lock) ---------------------------------------------------------
    @staticmethod
    def _link(item: CatalogItem, category: CatalogCategory, moment: datetime) -> None:
        if category.id in item.categories:
            return
        item.categories[category.id] = None
        category.items[item.id] = None
        category.updated = moment

    @staticmethod
    def _unlink(item: CatalogItem, category: CatalogCategory, moment: datetime) -> None:
        if category.id not in item.categories:
            return
        item.categories.pop(category.id, None)
        category.items.pop(item.id, None)
        category.updated = moment

    def _replace_categories(self, item: CatalogItem, categories: list[str], moment: datetime) -> None:
        for category_id in [c for c in item.categories if c not in categories]:
            self._unlink(item, self.categories[category_id], moment)
        for category_id in categories:
            self._link(item, self.categories[category_id], moment)

    def _replace_items(self, category: CatalogCategory, items: list[str], moment: datetime) -> None:
        for item_id in [i for i in category.items if i not in items]:
            self._unlink(self.items[item_id], category, moment)
        for item_id in items:
            self._link(self.items[item_id], category, moment)
