"""Product Types (``/product-types``), modelled only as far as Products need them.

``POST /product-types`` creates one from a ``ProductTypeDraft`` (``name`` and ``description``
required, ``key`` unique, ``attributes`` kept as given with the platform's defaults filled in). A
``ProductDraft`` may also name a Product Type that was never created: the emulator then creates it
on the fly (by key: with a stable id; by id: with that id), so vendor examples such as
``product-create.example.json`` work without setting up a catalog model first. The platform would
answer ``ReferencedResourceNotFound`` there; the lazy creation is a documented emulator convenience.
"""

from __future__ import annotations

from typing import Any

from . import errors
from ._util import Clock, jcopy, new_id
from .money import reference_id, string
from .querying import Collection
from .references import KEY_MESSAGE, KEY_PATTERN, stable_id

SYSTEM_ACTOR = {"clientId": "emulator", "isPlatformClient": True}


class ProductTypeRegistry:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.by_id: dict[str, dict[str, Any]] = {}
        self._by_key: dict[str, str] = {}

    def get(self, ident: str) -> dict[str, Any] | None:
        return self.by_id.get(ident)

    def get_by_key(self, key: str) -> dict[str, Any] | None:
        ident = self._by_key.get(key)
        return self.by_id.get(ident) if ident else None

    def require(self, ident: str, by_key: bool) -> dict[str, Any]:
        found = self.get_by_key(ident) if by_key else self.get(ident)
        if found is None:
            raise errors.resource_not_found(ident, by="key" if by_key else "ID")
        return found

    def create(self, draft: Any, actor: dict[str, Any], *, type_id: str | None = None) -> dict[str, Any]:
        if not isinstance(draft, dict):
            raise errors.invalid_json("Expected a JSON object (ProductTypeDraft).")
        name = string(draft, "name", required=True)
        description = string(draft, "description", required=True)
        key = string(draft, "key")
        if key is not None:
            if not KEY_PATTERN.match(key):
                raise errors.invalid_field("key", key, KEY_MESSAGE)
            if key in self._by_key:
                raise errors.duplicate_field("key", key)
        attributes = draft.get("attributes") or []
        if not isinstance(attributes, list) or not all(
            isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("type"), dict)
            for a in attributes
        ):
            raise errors.invalid_json("attributes: Expected a list of AttributeDefinitionDraft objects")
        now = self.clock.now_iso()
        resource: dict[str, Any] = {
            "id": type_id or new_id(),
            "version": 1,
            "createdAt": now,
            "lastModifiedAt": now,
            "lastModifiedBy": dict(actor),
            "createdBy": dict(actor),
        }
        if key is not None:
            resource["key"] = key
        resource.update(
            name=name,
            description=description,
            attributes=[
                {
                    "isRequired": False,
                    "attributeConstraint": "None",
                    "isSearchable": True,
                    "inputHint": "SingleLine",
                    "label": {"en": a["name"]},
                    **jcopy(a),
                }
                for a in attributes
            ],
        )
        self.by_id[resource["id"]] = resource
        if key is not None:
            self._by_key[key] = resource["id"]
        return resource

    def resolve(self, identifier: Any, where: str) -> dict[str, str]:
        """A ``ProductTypeResourceIdentifier`` to a ``ProductTypeReference`` (created when unknown)."""
        ident, key = reference_id(identifier, "product-type", where)
        found = self.get(ident) if ident is not None else self.get_by_key(str(key))
        if found is None:
            label = key or str(ident)
            draft: dict[str, Any] = {"name": label, "description": f"Created on first use ({label})."}
            if key is not None:
                draft["key"] = key
            found = self.create(draft, SYSTEM_ACTOR, type_id=ident or stable_id("product-type", str(key)))
        return {"typeId": "product-type", "id": found["id"]}

    def collection(self) -> Collection:
        return Collection(
            all_items=lambda: list(self.by_id.values()),
            indexes={},
            schema=None,
            count=lambda: len(self.by_id),
        )
