"""Custom Objects (key-value documents): create-or-update by ``(container, key)`` with optional versioning.

``POST /custom-objects`` creates the object or replaces its value. ``version`` makes the write
conditional: ``0`` means "must not exist yet", any other value must equal the current version;
a mismatch is 409 ``ConcurrentModification``. Shapes follow ``custom-object.example.json``.
"""

from __future__ import annotations

import re
from typing import Any

from . import errors
from ._util import Clock, jcopy, new_id
from .querying import Collection

_NAME = re.compile(r"^[-_~.a-zA-Z0-9]{1,256}$")
_ACTOR_SCHEMA = {
    n: None
    for n in ("clientId", "externalUserId", "customer", "anonymousId", "associate", "isPlatformClient")
}
CUSTOM_OBJECT_SCHEMA: dict[str, Any] = {
    "id": None,
    "version": None,
    "container": None,
    "key": None,
    "value": None,
    "createdAt": None,
    "lastModifiedAt": None,
    "createdBy": _ACTOR_SCHEMA,
    "lastModifiedBy": _ACTOR_SCHEMA,
}


def check_name(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise errors.invalid_json(
            f"{field}: Missing required value" if value is None else f"{field}: JSON String expected."
        )
    if not _NAME.match(value):
        raise errors.invalid_field(
            field,
            value,
            f"'{field}' must match the pattern '^[-_~.a-zA-Z0-9]+$' and be 1 to 256 characters long.",
        )
    return value


class CustomObjectStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, container: str, key: str) -> dict[str, Any] | None:
        return self._objects.get((container, key))

    def require(self, container: str, key: str) -> dict[str, Any]:
        found = self.get(container, key)
        if found is None:
            raise errors.CtApiError(
                404, "ResourceNotFound", f"The CustomObject with ID '({container},{key})' was not found."
            )
        return found

    def upsert(self, draft: Any, actor: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or update; returns ``(object, created)``."""
        if not isinstance(draft, dict):
            raise errors.invalid_json("Expected a JSON object (CustomObjectDraft).")
        container = check_name("container", draft.get("container"))
        key = check_name("key", draft.get("key"))
        if "value" not in draft or draft["value"] is None:
            raise errors.invalid_json("value: Missing required value")
        version = draft.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise errors.invalid_json("version: JSON Number expected.")
        existing = self._objects.get((container, key))
        now = self._clock.now_iso()
        if existing is None:
            if version not in (None, 0):
                raise errors.CtApiError(
                    409,
                    "ConcurrentModification",
                    f"Object ({container},{key}) does not exist, but version {version} was expected.",
                )
            created = {
                "id": new_id(),
                "version": 1,
                "createdAt": now,
                "lastModifiedAt": now,
                "lastModifiedBy": dict(actor),
                "createdBy": dict(actor),
                "container": container,
                "key": key,
                "value": jcopy(draft["value"]),
            }
            self._objects[(container, key)] = created
            return created, True
        if version is not None and version != existing["version"]:
            raise errors.concurrent_modification(existing["id"], version, existing["version"])
        if existing["value"] == draft["value"]:
            return existing, False
        updated = {
            **existing,
            "version": existing["version"] + 1,
            "lastModifiedAt": now,
            "lastModifiedBy": dict(actor),
            "value": jcopy(draft["value"]),
        }
        self._objects[(container, key)] = updated
        return updated, False

    def delete(self, container: str, key: str, version: int | None) -> dict[str, Any]:
        existing = self.require(container, key)
        if version is not None and version != existing["version"]:
            raise errors.concurrent_modification(existing["id"], version, existing["version"])
        del self._objects[(container, key)]
        return existing

    def collection(self, container: str | None = None) -> Collection:
        def items() -> list[dict[str, Any]]:
            values = list(self._objects.values())
            return values if container is None else [o for o in values if o["container"] == container]

        return Collection(
            all_items=items, indexes={}, schema=CUSTOM_OBJECT_SCHEMA, count=lambda: len(items())
        )
