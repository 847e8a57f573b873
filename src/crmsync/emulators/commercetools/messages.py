"""The Messages API store and the change notifications subscriptions carry.

Every change (customers, orders, carts, payments, categories, products) writes its Messages as the
platform does: ``version`` is always 1, ``sequenceNumber`` counts per resource, ``resourceVersion`` is
the resource version after the change, ``createdAt`` equals ``lastModifiedAt``. Messages are appended
in ``createdAt`` order, so the ``createdAt`` index is append-only and a poll
(``where=createdAt > "…"&sort=createdAt asc``) is a binary search plus one page.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._util import new_id
from .querying import Collection, OrderedIndex


@dataclass
class Change:
    """One committed change of a resource: its Messages and its change notification."""

    kind: str  # "ResourceCreated" | "ResourceUpdated" | "ResourceDeleted"
    type_id: str
    resource_id: str
    identifiers: dict[str, Any]
    version: int
    old_version: int | None
    modified_at: str
    data_erasure: bool | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)


IDENTIFIER_FIELDS = ("key", "externalId", "orderNumber", "customerNumber", "sku", "slug")


def user_provided_identifiers(resource: dict[str, Any]) -> dict[str, Any]:
    """``resourceUserProvidedIdentifiers`` (spec type ``UserProvidedIdentifiers``): those of ``key``,
    ``externalId``, ``orderNumber``, ``customerNumber``, ``sku`` and ``slug`` the resource has set."""
    return {name: resource[name] for name in IDENTIFIER_FIELDS if resource.get(name) is not None}


class MessageLog:
    """All Messages of the project, in creation order, with per-resource sequence numbers."""

    def __init__(self) -> None:
        self._messages: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._sequence: dict[str, int] = {}
        self._created_index = OrderedIndex()
        self._id_index = OrderedIndex()
        self._resource_index = OrderedIndex()  # resource id -> its messages (resource(id in ...))
        self._lock = threading.RLock()
        self._deferred: list[tuple[str, dict[str, Any]]] | None = None

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Bulk loading (seeding): id-index entries are merged once at the end instead of one
        O(n) insert per Message."""
        with self._lock:
            outer = self._deferred is not None
            if not outer:
                self._deferred = []
            try:
                yield
            finally:
                if not outer and self._deferred is not None:
                    deferred, self._deferred = self._deferred, None
                    self._id_index.extend(deferred)
                    self._resource_index.extend((m["resource"]["id"], m) for _, m in deferred)

    def __len__(self) -> int:
        return len(self._messages)

    def record(
        self,
        *,
        type_id: str,
        resource_id: str,
        resource_version: int,
        identifiers: dict[str, Any],
        payloads: Iterable[tuple[str, dict[str, Any]]],
        created_at: str,
        actor: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """Append one Message per ``(type, fields)`` payload; returns them in order."""
        written: list[dict[str, Any]] = []
        with self._lock:
            for message_type, fields in payloads:
                sequence = self._sequence.get(resource_id, 0) + 1
                self._sequence[resource_id] = sequence
                message: dict[str, Any] = {
                    "id": new_id(),
                    "version": 1,
                    "sequenceNumber": sequence,
                    "resource": {"typeId": type_id, "id": resource_id},
                    "resourceVersion": resource_version,
                    "resourceUserProvidedIdentifiers": dict(identifiers),
                    "type": message_type,
                    **fields,
                    "createdAt": created_at,
                    "lastModifiedAt": created_at,
                    "lastModifiedBy": dict(actor),
                    "createdBy": dict(actor),
                }
                self._messages.append(message)
                self._by_id[message["id"]] = message
                self._created_index.append(created_at, message)
                if self._deferred is not None:
                    self._deferred.append((message["id"], message))
                else:
                    self._id_index.insert(message["id"], message)
                    self._resource_index.insert(resource_id, message)
                written.append(message)
        return written

    def get(self, message_id: str) -> dict[str, Any] | None:
        return self._by_id.get(message_id)

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    def last_sequence(self, resource_id: str) -> int:
        return self._sequence.get(resource_id, 0)

    def collection(self) -> Collection:
        return Collection(
            all_items=lambda: list(self._messages),
            indexes={
                "createdAt": self._created_index,
                "id": self._id_index,
                "resource.id": self._resource_index,
            },
            schema=None,
            count=lambda: len(self._messages),
        )
