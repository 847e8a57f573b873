"""Categories (``/categories``): a tree with ``ancestors``, unique slugs and keys, and its Messages.

What the platform does and this reproduces:

* ``CategoryDraft`` → ``Category`` with ``ancestors`` (references from the root down to the parent)
  and ``orderHint`` (a decimal string between 0 and 1; a random one when the draft has none).
* ``slug`` is a LocalizedString whose values match ``^[A-Za-z0-9_-]{2,256}$`` and are unique per
  locale across the project; ``key`` is unique. A ``parent`` that does not exist is 400
  ``ReferencedResourceNotFound`` (so ``category-create.example.json`` needs its parent created first).
* Messages: only ``CategoryCreated {category}`` and ``CategorySlugChanged {slug, oldSlug}`` exist;
  ``changeName`` / ``changeParent`` / ``setKey`` … are seen only as ``ResourceUpdated``, and a
  deletion only as ``ResourceDeleted`` — there is no ``CategoryDeleted`` Message.
* ``changeParent`` re-parents the subtree: every descendant's ``ancestors`` follow, each descendant
  getting its own version step and ``ResourceUpdated`` notification (an emulator choice; the platform
  does not document how descendants are versioned). Moving a category below itself is
  ``InvalidOperation``.
* Deleting a category deletes its subcategories too, each observed as its own ``ResourceDeleted``
  (as the Merchant Center does; the HTTP API reference is silent — **unverified**). Products keep
  their references to deleted categories.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from . import errors
from ._util import Clock, jcopy, new_id
from .custom_fields import custom_from_draft, set_custom_field, set_custom_type
from .messages import Change, MessageLog
from .money import localized, reference_id, string
from .references import KEY_MESSAGE, KEY_PATTERN, TypeRegistry
from .repository import ActionContext, Handler, Repository, run_actions, set_or_drop

SLUG_PATTERN = re.compile(r"^[A-Za-z0-9_-]{2,256}$")
_ORDER_HINT = re.compile(r"^0?\.\d+$|^0$")
CATEGORY_FIELDS = (
    "id", "version", "createdAt", "lastModifiedAt", "lastModifiedBy", "createdBy", "key", "externalId",
    "name", "slug", "description", "ancestors", "parent", "orderHint", "metaTitle", "metaDescription",
    "metaKeywords", "custom", "assets",
)  # fmt: skip
_OPTIONAL_LOCALIZED = ("description", "metaTitle", "metaDescription", "metaKeywords")


def check_slug(value: Any, where: str) -> dict[str, str]:
    slug = localized(value, where)
    assert slug is not None
    for text in slug.values():
        if not SLUG_PATTERN.match(text):
            raise errors.invalid_field(
                "slug",
                text,
                f"'{text}' is not a valid slug: valid slugs match the pattern ^[A-Za-z0-9_-]{{2,256}}$.",
            )
    return slug


def check_key(value: str | None) -> None:
    if value is not None and not KEY_PATTERN.match(value):
        raise errors.invalid_field("key", value, KEY_MESSAGE)


def _ref(category: dict[str, Any]) -> dict[str, str]:
    return {"typeId": "category", "id": category["id"]}


class CategoryRepository(Repository):
    type_id = "category"
    resource_name = "categories"

    def __init__(
        self, clock: Clock, messages: MessageLog, notify: Callable[[Change], None], types: TypeRegistry
    ) -> None:
        super().__init__(clock, messages, notify, {name: None for name in CATEGORY_FIELDS})
        self.types = types
        self._slugs: dict[tuple[str, str], str] = {}
        self._rng = random.Random()

    # -- helpers ----------------------------------------------------------------------------------
    def resolve(self, identifier: Any, where: str) -> dict[str, Any]:
        """A ``CategoryResourceIdentifier`` to the Category (400 ``ReferencedResourceNotFound``)."""
        ident, key = reference_id(identifier, "category", where)
        found = self.get(ident) if ident is not None else self.get_by_key(str(key))
        if found is None:
            raise errors.referenced_resource_not_found(
                "category", id=ident, key=key if ident is None else None
            )
        return found

    def check_unique(self, resource: dict[str, Any]) -> None:
        super().check_unique(resource)
        for locale, text in resource["slug"].items():
            owner = self._slugs.get((locale, text))
            if owner is not None and owner != resource["id"]:
                raise errors.duplicate_field(f"slug.{locale}", text)

    def insert(self, resource: dict[str, Any]) -> None:
        super().insert(resource)
        self._slugs.update(((locale, text), resource["id"]) for locale, text in resource["slug"].items())

    def replace(self, current: dict[str, Any], updated: dict[str, Any]) -> None:
        self._drop_slugs(current)
        super().replace(current, updated)
        self._slugs.update(((locale, text), updated["id"]) for locale, text in updated["slug"].items())

    def remove(self, current: dict[str, Any]) -> None:
        self._drop_slugs(current)
        super().remove(current)

    def _drop_slugs(self, category: dict[str, Any]) -> None:
        for locale, text in category["slug"].items():
            if self._slugs.get((locale, text)) == category["id"]:
                del self._slugs[(locale, text)]

    def descendants(self, category_id: str) -> list[dict[str, Any]]:
        """All categories below this one, parents before children."""
        found = [c for c in self.by_id.values() if any(a["id"] == category_id for a in c["ancestors"])]
        return sorted(found, key=lambda c: len(c["ancestors"]))

    # -- writes -----------------------------------------------------------------------------------
    def create(self, draft: Any, actor: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(draft, dict):
            raise errors.invalid_json("Expected a JSON object (CategoryDraft).")
        category = self.new_base(new_id(), actor)
        key = string(draft, "key")
        check_key(key)
        set_or_drop(category, "key", key)
        set_or_drop(category, "externalId", string(draft, "externalId"))
        category["name"] = localized(draft.get("name"), "name")
        category["slug"] = check_slug(draft.get("slug"), "slug")
        for name in _OPTIONAL_LOCALIZED[:1]:
            set_or_drop(category, name, localized(draft.get(name), name, required=False))
        parent = self.resolve(draft["parent"], "parent") if draft.get("parent") is not None else None
        category["ancestors"] = [*parent["ancestors"], _ref(parent)] if parent is not None else []
        if parent is not None:
            category["parent"] = _ref(parent)
        category["orderHint"] = self._order_hint(string(draft, "orderHint"))
        for name in _OPTIONAL_LOCALIZED[1:]:
            set_or_drop(category, name, localized(draft.get(name), name, required=False))
        set_or_drop(category, "custom", custom_from_draft(self.types, draft.get("custom"), "category"))
        category["assets"] = [_asset(a, f"assets -> {i}") for i, a in enumerate(draft.get("assets") or [])]
        return self.save_new(category, [("CategoryCreated", {"category": category})], actor)

    def _order_hint(self, value: str | None) -> str:
        if value is None:
            return f"0.{self._rng.randrange(10**17):017d}"
        if not _ORDER_HINT.match(value):
            raise errors.invalid_field("orderHint", value, "The orderHint must be a decimal between 0 and 1.")
        return value

    def update(
        self, ident: str, by_key: bool, version: Any, actions: Any, actor: dict[str, Any]
    ) -> dict[str, Any]:
        current = self.require(ident, by_key)
        self.check_version(current, version)
        ctx = CategoryContext(jcopy(current), self.clock.now_iso(), repo=self)
        run_actions(ctx, actions, HANDLERS, "categories")
        updated = self.save_update(current, ctx, actor)
        if updated is not current and updated["ancestors"] != current["ancestors"]:
            self._move_subtree(updated, actor)
        return updated

    def _move_subtree(self, moved: dict[str, Any], actor: dict[str, Any]) -> None:
        for child in self.descendants(moved["id"]):
            parent = self.by_id[child["parent"]["id"]]
            fresh = {**child, "ancestors": [*parent["ancestors"], _ref(parent)]}
            ctx = CategoryContext(fresh, self.clock.now_iso(), repo=self)
            self.save_update(child, ctx, actor)

    def delete(self, ident: str, by_key: bool, version: Any, actor: dict[str, Any]) -> dict[str, Any]:
        current = self.require(ident, by_key)
        self.check_version(current, version)
        below = self.descendants(current["id"])
        self.save_delete(current, version, [], actor)
        for child in below:
            self.save_delete(child, child["version"], [], actor)
        return current


def _asset(draft: Any, where: str) -> dict[str, Any]:
    if not isinstance(draft, dict) or not isinstance(draft.get("sources"), list):
        raise errors.invalid_json(f"{where} -> sources: Missing required value")
    asset: dict[str, Any] = {"id": new_id(), "sources": list(draft["sources"])}
    asset["name"] = localized(draft.get("name"), f"{where} -> name")
    for name in ("description", "tags", "key"):
        if draft.get(name) is not None:
            asset[name] = draft[name]
    return asset


class CategoryContext(ActionContext):
    def __init__(self, resource: dict[str, Any], now: str, *, repo: CategoryRepository) -> None:
        super().__init__(resource, now)
        self.repo = repo


def change_name(ctx: CategoryContext, action: dict[str, Any]) -> None:
    ctx.resource["name"] = localized(action.get("name"), "actions -> name")


def change_slug(ctx: CategoryContext, action: dict[str, Any]) -> None:
    slug = check_slug(action.get("slug"), "actions -> slug")
    old = ctx.resource["slug"]
    if slug != old:
        ctx.resource["slug"] = slug
        ctx.emit("CategorySlugChanged", slug=slug, oldSlug=old)


def change_parent(ctx: CategoryContext, action: dict[str, Any]) -> None:
    parent = ctx.repo.resolve(action.get("parent"), "actions -> parent")
    own = ctx.resource["id"]
    if parent["id"] == own or any(a["id"] == own for a in parent["ancestors"]):
        raise errors.invalid_operation("A category can not be moved below itself or one of its descendants.")
    ctx.resource["parent"] = _ref(parent)
    ctx.resource["ancestors"] = [*parent["ancestors"], _ref(parent)]


def set_key(ctx: CategoryContext, action: dict[str, Any]) -> None:
    key = string(action, "key", "actions -> ")
    check_key(key)
    set_or_drop(ctx.resource, "key", key)


def change_order_hint(ctx: CategoryContext, action: dict[str, Any]) -> None:
    ctx.resource["orderHint"] = ctx.repo._order_hint(
        string(action, "orderHint", "actions -> ", required=True)
    )


def _localized_setter(name: str) -> Handler:
    def handler(ctx: CategoryContext, action: dict[str, Any]) -> None:
        set_or_drop(ctx.resource, name, localized(action.get(name), f"actions -> {name}", required=False))

    return handler


def set_external_id(ctx: CategoryContext, action: dict[str, Any]) -> None:
    set_or_drop(ctx.resource, "externalId", string(action, "externalId", "actions -> "))


def _set_custom_type(ctx: CategoryContext, action: dict[str, Any]) -> None:
    set_custom_type(ctx, ctx.repo.types, action, "category", None)


def _set_custom_field(ctx: CategoryContext, action: dict[str, Any]) -> None:
    set_custom_field(ctx, ctx.repo.types, action, None)


HANDLERS: dict[str, Handler] = {
    "changeName": change_name,
    "changeSlug": change_slug,
    "changeParent": change_parent,
    "changeOrderHint": change_order_hint,
    "setKey": set_key,
    "setExternalId": set_external_id,
    "setDescription": _localized_setter("description"),
    "setMetaTitle": _localized_setter("metaTitle"),
    "setMetaDescription": _localized_setter("metaDescription"),
    "setMetaKeywords": _localized_setter("metaKeywords"),
    "setCustomType": _set_custom_type,
    "setCustomField": _set_custom_field,
}
