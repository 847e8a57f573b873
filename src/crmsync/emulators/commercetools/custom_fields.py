"""``setCustomType`` / ``setCustomField`` for the commerce resources, with their Messages.

The platform writes ``<Resource>CustomTypeSet {customFields, previousTypeId?}``,
``<Resource>CustomTypeRemoved {previousTypeId?}``, ``<Resource>CustomFieldAdded {name, value}``,
``<Resource>CustomFieldChanged {name, value, previousValue?}`` and ``<Resource>CustomFieldRemoved
{name}`` for Orders (``Order…``); resources without such Message types (Carts, Categories, Products,
Payments here) pass ``prefix=None`` and change silently (only a change notification). Field values
are checked against the Type like customer custom fields (:class:`.references.TypeRegistry`).
"""

from __future__ import annotations

from typing import Any

from . import errors
from .references import TypeRegistry
from .repository import ActionContext

NO_CUSTOM_TYPE = (
    "This resource has no custom type set - please use setCustomType first to set the type of the custom "
    "fields"
)


def custom_from_draft(types: TypeRegistry, draft: Any, resource_type_id: str) -> dict[str, Any] | None:
    """A draft's optional ``custom`` (``CustomFieldsDraft``) as stored ``CustomFields``."""
    return None if draft is None else types.build_custom(draft, resource_type_id)


def set_custom_type(
    ctx: ActionContext, types: TypeRegistry, action: dict[str, Any], resource_type_id: str, prefix: str | None
) -> None:
    holder = ctx.resource
    previous = holder.get("custom", {}).get("type", {}).get("id")
    if action.get("type") is None:
        if "custom" in holder:
            del holder["custom"]
            if prefix:
                ctx.emit(f"{prefix}CustomTypeRemoved", previousTypeId=previous)
        return
    custom = types.build_custom({"type": action["type"], "fields": action.get("fields")}, resource_type_id)
    holder["custom"] = custom
    if prefix:
        ctx.emit(f"{prefix}CustomTypeSet", customFields=custom, previousTypeId=previous)


def set_custom_field(
    ctx: ActionContext, types: TypeRegistry, action: dict[str, Any], prefix: str | None
) -> None:
    name = action.get("name")
    if not isinstance(name, str):
        raise errors.invalid_json("actions -> name: Missing required value")
    custom = ctx.resource.get("custom")
    if custom is None:
        raise errors.invalid_operation(NO_CUSTOM_TYPE)
    type_resource = types.get(custom["type"]["id"])
    fields = custom["fields"]
    value = action.get("value")
    if value is None:
        if name in fields:
            del fields[name]
            if type_resource is not None:
                types.check_required(type_resource, fields)
            if prefix:
                ctx.emit(f"{prefix}CustomFieldRemoved", name=name)
        return
    stored = types.check_field(type_resource, name, value) if type_resource is not None else value
    previous = fields.get(name)
    fields[name] = stored
    if not prefix or previous == stored:
        return
    if previous is None:
        ctx.emit(f"{prefix}CustomFieldAdded", name=name, value=stored)
    else:
        ctx.emit(f"{prefix}CustomFieldChanged", name=name, value=stored, previousValue=previous)
