"""Request-body validation: JSON:API envelopes and profile attributes.

Klaviyo validates synchronously and answers 400 ``invalid`` with a JSON pointer to the offending
member (``/data/attributes/phone_number``) — clients use that pointer (the official commercetools
plugin retries without ``phone_number`` when it is the culprit), so every check here names its field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from crmsync.emulators.klaviyo.errors import ApiError, conflict, invalid

STRING_FIELDS = (
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
)
IDENTIFIERS = ("email", "phone_number", "external_id")
LOCATION_FIELDS = (
    "address1",
    "address2",
    "city",
    "country",
    "latitude",
    "longitude",
    "region",
    "zip",
    "timezone",
    "ip",
)
#: Attributes accepted by create_profile / update_profile.
PROFILE_FIELDS = frozenset((*STRING_FIELDS, "location", "properties"))
#: create_or_update_profile and bulk import also accept the exchange id ``_kx``.
UPSERT_FIELDS = PROFILE_FIELDS | {"_kx"}
#: The profile embedded in an event also accepts ``anonymous_id`` and ``meta``.
EVENT_PROFILE_FIELDS = UPSERT_FIELDS | {"anonymous_id", "meta"}

# Deliberately simple: one @, no whitespace, a dot in the domain (what Klaviyo rejects in practice).
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def parse_json(raw: bytes) -> Any:
    if not raw:
        raise ApiError(400, "parse_error", "A request body is required.", pointer="/data")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "parse_error", f"JSON parse error - {exc}", pointer="/data") from exc


def resource(
    body: Any, expected_type: str, *, path_id: str | None = None, pointer: str = "/data"
) -> dict[str, Any]:
    """Check the JSON:API envelope ``{"data": {"type", "id"?, "attributes"}}`` and return ``data``.

    A wrong ``type`` or an ``id`` that differs from the URL is a 409 Conflict, as JSON:API requires.
    """
    if pointer == "/data":
        if not isinstance(body, dict) or "data" not in body:
            raise invalid("The request body must be a JSON object with a 'data' member.", pointer="/data")
        data = body["data"]
    else:
        data = body
    if not isinstance(data, dict):
        raise invalid("'data' must be a resource object.", pointer=pointer)
    kind = data.get("type")
    if not isinstance(kind, str):
        raise invalid("The resource object must contain a 'type' member.", pointer=f"{pointer}/type")
    if kind != expected_type:
        raise conflict(
            f"The resource object's type ({kind}) is not the type that constitutes the collection "
            f"represented by the endpoint ({expected_type}).",
            pointer=f"{pointer}/type",
        )
    if path_id is not None:
        if "id" not in data or data["id"] is None:
            raise invalid("The resource object must contain an 'id' member.", pointer=f"{pointer}/id")
        if str(data["id"]) != path_id:
            raise conflict(
                f"The resource object's id ({data['id']}) does not match the URL's lookup id ({path_id}).",
                pointer=f"{pointer}/id",
            )
    attributes = data.get("attributes")
    if "attributes" in data and not isinstance(attributes, dict):
        raise invalid("'attributes' must be an object.", pointer=f"{pointer}/attributes")
    return data


def check_email(value: str, pointer: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise invalid(f"Invalid email address: {value!r}.", pointer=pointer)
    return value


def check_phone(value: str, pointer: str) -> str:
    if not _E164.match(value):
        raise invalid(
            f"Invalid phone number format: {value!r}. "
            "Phone numbers must be in E.164 format (e.g. +15005550006).",
            pointer=pointer,
        )
    return value


def _location(value: Any, pointer: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("'location' must be an object.", pointer=pointer)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in LOCATION_FIELDS:
            raise invalid(f"'{key}' is not a valid field for 'location'.", pointer=f"{pointer}/{key}")
        if key in ("latitude", "longitude"):
            if item is not None and (isinstance(item, bool) or not isinstance(item, str | int | float)):
                raise invalid(f"'{key}' must be a number or a string.", pointer=f"{pointer}/{key}")
        elif item is not None and not isinstance(item, str):
            raise invalid(f"'{key}' must be a string.", pointer=f"{pointer}/{key}")
        out[key] = item
    return out


@dataclass(slots=True)
class PatchOps:
    """``meta.patch_properties``: append to / remove from list properties, unset keys."""

    append: dict[str, Any] = field(default_factory=dict)
    unappend: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.append or self.unappend or self.unset)


def patch_ops(meta: Any, pointer: str) -> PatchOps:
    ops = PatchOps()
    if meta is None:
        return ops
    if not isinstance(meta, dict):
        raise invalid("'meta' must be an object.", pointer=pointer)
    for key in meta:
        if key not in ("patch_properties", "patch_identifiers"):
            raise invalid(f"'{key}' is not a valid field for 'meta'.", pointer=f"{pointer}/{key}")
    if meta.get("patch_identifiers"):
        raise invalid(
            "meta.patch_identifiers is not supported by this emulator.",
            pointer=f"{pointer}/patch_identifiers",
        )
    patch = meta.get("patch_properties")
    if patch is None:
        return ops
    if not isinstance(patch, dict):
        raise invalid("'patch_properties' must be an object.", pointer=f"{pointer}/patch_properties")
    base = f"{pointer}/patch_properties"
    for key in ("append", "unappend"):
        value = patch.get(key)
        if value is not None and not isinstance(value, dict):
            raise invalid(f"'{key}' must be an object.", pointer=f"{base}/{key}")
    ops.append = dict(patch.get("append") or {})
    ops.unappend = dict(patch.get("unappend") or {})
    unset = patch.get("unset")
    if isinstance(unset, str):
        ops.unset = [unset]
    elif isinstance(unset, list) and all(isinstance(k, str) for k in unset):
        ops.unset = list(unset)
    elif unset is not None:
        raise invalid("'unset' must be a string or a list of strings.", pointer=f"{base}/unset")
    return ops


def profile_attributes(
    attributes: Any, *, allowed: frozenset[str] = PROFILE_FIELDS, pointer: str = "/data/attributes"
) -> dict[str, Any]:
    """Validate profile attributes; return only the members present (absent = leave unchanged)."""
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise invalid("'attributes' must be an object.", pointer=pointer)
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        where = f"{pointer}/{key}"
        if key not in allowed:
            raise invalid(f"'{key}' is not a valid field for the resource 'profile'.", pointer=where)
        if key == "location":
            out[key] = _location(value, where)
        elif key == "properties":
            if value is not None and not isinstance(value, dict):
                raise invalid("'properties' must be an object.", pointer=where)
            out[key] = value
        elif key == "meta":
            out[key] = value
        else:
            if value is not None and not isinstance(value, str):
                raise invalid(f"'{key}' must be a string.", pointer=where)
            if value is not None and key == "email":
                value = check_email(value.strip(), where)
            elif value is not None and key == "phone_number":
                value = check_phone(value.strip(), where)
            out[key] = value
    return out


def require_identifier(attrs: dict[str, Any], pointer: str = "/data/attributes") -> None:
    """A profile must be addressable: email, phone_number or external_id (non-empty)."""
    if not any(attrs.get(key) for key in IDENTIFIERS):
        raise invalid(
            "At least one profile identifier ('email', 'phone_number', 'external_id') is required.",
            pointer=pointer,
        )


def encoded_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())
