"""One projection → the Klaviyo profile resource object, including fields to clear.

Klaviyo treats an absent attribute as "unchanged", so a value that was delivered before and is gone
now (``Projection.clear``) must be sent explicitly: profile attributes and ``location`` fields as
``null`` (the spec marks them nullable), custom properties through
``meta.patch_properties.unset`` — the documented way to remove a property. The reserved ``$lists``
key of a projection is list membership, not an attribute, and is left out here (the one place every
profile body — profile-import, PATCH, bulk import job — is built).
"""

from __future__ import annotations

from typing import Any

from crmsync.ports import JSON, LISTS, Projection


def _reserved(path: str) -> bool:
    return path == LISTS or path.startswith(LISTS + ".")


def profile_attributes(item: Projection) -> tuple[JSON, JSON | None]:
    """``(attributes, meta)`` for ``item``; ``meta`` is None when nothing needs unsetting.

    ``$lists`` (list membership, :mod:`.memberships`) is not a profile attribute: it is never sent,
    nor cleared when a customer leaves every store.
    """
    payload = {k: v for k, v in item.payload.items() if k != LISTS} if LISTS in item.payload else item.payload
    clear = [path for path in item.clear if not _reserved(path)]
    if not clear:
        return payload, None
    attributes: dict[str, Any] = dict(payload)
    unset: list[str] = []
    new_properties = payload.get("properties") or {}
    for path in clear:
        head, _, rest = path.partition(".")
        if head == "properties":
            key = rest.split(".", 1)[0]
            if key and key not in new_properties and key not in unset:
                unset.append(key)
        elif head == "location" and rest:
            location = dict(attributes.get("location") or {})
            location.setdefault(rest.split(".", 1)[0], None)
            attributes["location"] = location
        elif not rest:
            attributes.setdefault(head, None)
    meta = {"patch_properties": {"unset": unset}} if unset else None
    return attributes, meta


def profile_resource(item: Projection, profile_id: str | None = None) -> JSON:
    """The JSON:API resource object for profile-import, a bulk job item, or a PATCH (with id)."""
    attributes, meta = profile_attributes(item)
    resource: dict[str, Any] = {"type": "profile"}
    if profile_id is not None:
        resource["id"] = profile_id
    resource["attributes"] = attributes
    if meta is not None:
        resource["meta"] = meta
    return resource
