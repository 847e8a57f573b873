"""Referenced resources a customer points at: Types (custom fields), Stores and Customer Groups.

Types are real resources here (``/types``): a CustomFieldsDraft must name an existing Type, and field
values are checked against its field definitions like the platform does. The ``customer-profile``
Type used by the demo data is pre-registered. Stores and Customer Groups are modelled only as far as
customers need them: a key maps to a stable id, so references by key or id both resolve.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from . import errors
from ._util import Clock, jcopy, new_id, normalize_datetime_literal
from .querying import Collection

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{2,256}$")
KEY_MESSAGE = (
    "Keys may only contain alphanumeric characters, underscores and hyphens and must have a minimum "
    "length of 2 characters and maximum length of 256 characters."
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d{1,3})?$")
_NAMESPACE = uuid.UUID("5b0c2a7e-8c43-4d47-9a55-2f1c7a0f6c11")

CUSTOMER_PROFILE_TYPE: dict[str, Any] = {
    "key": "customer-profile",
    "name": {"en": "Customer profile"},
    "description": {"en": "Loyalty and marketing preferences of a customer"},
    "resourceTypeIds": ["customer"],
    "fieldDefinitions": [
        {
            "name": "loyaltyTier",
            "label": {"en": "Loyalty tier"},
            "required": False,
            "type": {
                "name": "Enum",
                "values": [{"key": k, "label": k.title()} for k in ("bronze", "silver", "gold", "platinum")],
            },
            "inputHint": "SingleLine",
        },
        {
            "name": "loyaltyPoints",
            "label": {"en": "Loyalty points"},
            "required": False,
            "type": {"name": "Number"},
        },
        {
            "name": "newsletterOptIn",
            "label": {"en": "Newsletter opt-in"},
            "required": False,
            "type": {"name": "Boolean"},
        },
        {
            "name": "newsletterOptInAt",
            "label": {"en": "Newsletter opt-in given or withdrawn at"},
            "required": False,
            "type": {"name": "DateTime"},
        },
        {
            "name": "smsOptIn",
            "label": {"en": "SMS marketing opt-in"},
            "required": False,
            "type": {"name": "Boolean"},
        },
        {
            "name": "smsOptInAt",
            "label": {"en": "SMS opt-in given or withdrawn at"},
            "required": False,
            "type": {"name": "DateTime"},
        },
        {
            "name": "preferredStore",
            "label": {"en": "Preferred store"},
            "required": False,
            "type": {"name": "String"},
            "inputHint": "SingleLine",
        },
        {
            "name": "favouriteCategory",
            "label": {"en": "Favourite category"},
            "required": False,
            "type": {"name": "String"},
            "inputHint": "SingleLine",
        },
    ],
}


def stable_id(kind: str, key: str) -> str:
    """The id a key-only reference gets, stable across runs (``uuid5``)."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{key}"))


def _check_value(type_def: dict[str, Any], value: Any) -> tuple[bool, Any]:
    """Is ``value`` valid for the field type? Returns ``(ok, stored value)``."""
    name = type_def.get("name")
    if name == "Boolean":
        return isinstance(value, bool), value
    if name == "Number":
        return isinstance(value, int | float) and not isinstance(value, bool), value
    if name == "String":
        return isinstance(value, str), value
    if name == "LocalizedString":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values()), value
    if name in ("Enum", "LocalizedEnum"):
        keys = [v.get("key") for v in type_def.get("values", [])]
        return isinstance(value, str) and value in keys, value
    if name == "Date":
        return isinstance(value, str) and bool(_DATE.match(value)), value
    if name == "Time":
        return isinstance(value, str) and bool(_TIME.match(value)), value
    if name == "DateTime":
        normalized = normalize_datetime_literal(value) if isinstance(value, str) else None
        return normalized is not None, normalized
    if name == "Money":
        ok = isinstance(value, dict) and isinstance(value.get("centAmount"), int) and "currencyCode" in value
        return ok, value
    if name == "Reference":
        return isinstance(value, dict) and "id" in value, value
    if name == "Set":
        if not isinstance(value, list):
            return False, value
        element = type_def.get("elementType", {})
        checked = [_check_value(element, v) for v in value]
        return all(ok for ok, _ in checked), [stored for _, stored in checked]
    return True, value


class TypeRegistry:
    """Types by id and key; validation of custom field values against field definitions."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.by_id: dict[str, dict[str, Any]] = {}
        self._by_key: dict[str, str] = {}
        self.create(CUSTOMER_PROFILE_TYPE, actor={"clientId": "emulator", "isPlatformClient": True})

    def create(self, draft: Any, actor: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(draft, dict):
            raise errors.invalid_json("Expected a JSON object.")
        for name in ("key", "name", "resourceTypeIds"):
            if name not in draft:
                raise errors.invalid_json(f"{name}: Missing required value")
        key = draft["key"]
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise errors.invalid_field(
                "key",
                key,
                KEY_MESSAGE,
            )
        if key in self._by_key:
            raise errors.duplicate_field("key", key)
        definitions = draft.get("fieldDefinitions", [])
        if not isinstance(definitions, list) or not all(
            isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("type"), dict)
            for d in definitions
        ):
            raise errors.invalid_json("fieldDefinitions: Expected a list of FieldDefinition objects")
        now = self._clock.now_iso()
        resource: dict[str, Any] = {
            "id": new_id(),
            "version": 1,
            "createdAt": now,
            "lastModifiedAt": now,
            "lastModifiedBy": dict(actor),
            "createdBy": dict(actor),
            "key": key,
            "name": jcopy(draft["name"]),
            "resourceTypeIds": list(draft["resourceTypeIds"]),
            "fieldDefinitions": [
                {"required": False, "label": {"en": d["name"]}, **jcopy(d)} for d in definitions
            ],
        }
        if draft.get("description") is not None:
            resource["description"] = jcopy(draft["description"])
        self.by_id[resource["id"]] = resource
        self._by_key[key] = resource["id"]
        return resource

    def get(self, type_id: str) -> dict[str, Any] | None:
        return self.by_id.get(type_id)

    def get_by_key(self, key: str) -> dict[str, Any] | None:
        type_id = self._by_key.get(key)
        return self.by_id.get(type_id) if type_id else None

    def resolve(self, identifier: Any, resource_type_id: str) -> dict[str, Any]:
        """A ``TypeResourceIdentifier`` (``{typeId: "type", id|key}``) to the Type it names."""
        if not isinstance(identifier, dict) or ("id" not in identifier and "key" not in identifier):
            raise errors.invalid_json("custom -> type: Expected a TypeResourceIdentifier with 'id' or 'key'")
        found = self.get(identifier["id"]) if "id" in identifier else self.get_by_key(str(identifier["key"]))
        if found is None:
            raise errors.referenced_resource_not_found(
                "type", id=identifier.get("id"), key=identifier.get("key")
            )
        if resource_type_id not in found["resourceTypeIds"]:
            raise errors.invalid_input(
                f"The type with key '{found['key']}' does not have the resourceTypeId '{resource_type_id}'."
            )
        return found

    def check_field(self, type_resource: dict[str, Any], name: str, value: Any) -> Any:
        """Validate one field value; returns the value as stored (date-times normalized)."""
        definition = next((d for d in type_resource["fieldDefinitions"] if d["name"] == name), None)
        if definition is None:
            raise errors.invalid_field(
                name, value, f"The field '{name}' is not defined in the type '{type_resource['key']}'."
            )
        ok, stored = _check_value(definition["type"], value)
        if not ok:
            allowed = None
            if definition["type"].get("name") in ("Enum", "LocalizedEnum"):
                allowed = [v.get("key") for v in definition["type"].get("values", [])]
            raise errors.invalid_field(
                name, value, f"The value {_render(value)} is not valid for field '{name}'.", allowed
            )
        return stored

    def build_custom(self, draft: Any, resource_type_id: str) -> dict[str, Any]:
        """A ``CustomFieldsDraft`` to stored ``CustomFields`` (``type`` becomes a reference by id)."""
        if not isinstance(draft, dict) or "type" not in draft:
            raise errors.invalid_json("custom -> type: Missing required value")
        type_resource = self.resolve(draft["type"], resource_type_id)
        fields = draft.get("fields") or {}
        if not isinstance(fields, dict):
            raise errors.invalid_json("custom -> fields: Expected a JSON object")
        stored = {
            name: self.check_field(type_resource, name, value)
            for name, value in fields.items()
            if value is not None
        }
        self.check_required(type_resource, stored)
        return {"type": {"typeId": "type", "id": type_resource["id"]}, "fields": stored}

    def check_required(self, type_resource: dict[str, Any], fields: dict[str, Any]) -> None:
        for definition in type_resource["fieldDefinitions"]:
            if definition.get("required") and definition["name"] not in fields:
                raise errors.required_field(
                    definition["name"], f"The field '{definition['name']}' is required."
                )

    def collection(self) -> Collection:
        return Collection(
            all_items=lambda: list(self.by_id.values()),
            indexes={},
            schema=None,
            count=lambda: len(self.by_id),
        )


def _render(value: Any) -> str:
    return (
        f"'{value}'"
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )


class KeyedReferences:
    """Stores / Customer Groups: a key maps to a stable id; references resolve by either."""

    def __init__(self, type_id: str, keys: tuple[str, ...] = ()) -> None:
        self.type_id = type_id
        self._ids: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        for key in keys:
            self.register(key)

    def register(self, key: str) -> str:
        if key not in self._ids:
            ident = stable_id(self.type_id, key)
            self._ids[key] = ident
            self._keys[ident] = key
        return self._ids[key]

    def key_of(self, identifier: Any, where: str) -> str:
        """The key a ``{typeId, id|key}`` identifier names (keys are accepted and registered)."""
        if not isinstance(identifier, dict):
            raise errors.invalid_json(f"{where}: Expected a ResourceIdentifier object")
        if isinstance(identifier.get("key"), str):
            key = str(identifier["key"])
            if not KEY_PATTERN.match(key):
                raise errors.invalid_field("key", key, f"Invalid key '{key}'.")
            self.register(key)
            return key
        if isinstance(identifier.get("id"), str):
            key_for_id = self._keys.get(identifier["id"])
            if key_for_id is None:
                raise errors.referenced_resource_not_found(self.type_id, id=identifier["id"])
            return key_for_id
        raise errors.invalid_json(f"{where}: Expected 'id' or 'key'")

    def id_of(self, identifier: Any, where: str) -> str:
        """The id a ``{typeId, id|key}`` identifier names (unknown ids are accepted as given)."""
        if isinstance(identifier, dict) and isinstance(identifier.get("id"), str):
            return str(identifier["id"])
        return self.register(self.key_of(identifier, where))
