"""The platform invariants every versioned resource shares, for orders, carts, payments, categories and
products (customers keep their own repository).

* Optimistic concurrency: an update or delete names the ``version`` it expects; another version is
  409 ``ConcurrentModification`` with ``currentVersion`` (a missing version is ``InvalidJsonInput``).
* One version step per update request that changes something; a request whose actions change nothing
  returns the resource unchanged (no version step, no Message, no change notification).
* Every committed change writes its Messages (per-resource ``sequenceNumber``) and one change
  notification (``ResourceCreated`` / ``ResourceUpdated`` / ``ResourceDeleted``) for subscriptions.
* Stored resources are never mutated in place: updates work on a copy and replace the stored object,
  so Messages can hold the resource they were written with (``OrderCreated.order`` …) without copying.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors
from ._util import Clock, jcopy
from .messages import Change, MessageLog, user_provided_identifiers
from .predicate_eval import Schema
from .querying import Collection, OrderedIndex

Payloads = list[tuple[str, dict[str, Any]]]
MAX_ACTIONS = 500


@dataclass
class ActionContext:
    """A working copy of one resource while an update request's actions run, and what they emit."""

    resource: dict[str, Any]
    now: str
    payloads: Payloads = field(default_factory=list)
    forced: bool = False  # an action that always makes a new version (``publish``), even if nothing changed

    def emit(self, message_type: str, **fields: Any) -> None:
        """Queue a Message; ``None`` fields are left out like the platform omits absent fields."""
        self.payloads.append((message_type, {k: jcopy(v) for k, v in fields.items() if v is not None}))


Handler = Callable[[Any, dict[str, Any]], None]


def run_actions(
    ctx: ActionContext, actions: Any, handlers: Mapping[str, Handler], resource_name: str
) -> None:
    """Apply every action to ``ctx.resource`` (a copy); the caller commits only if all succeed.

    An action that leaves the resource as it was emits nothing, like on the platform.
    """
    if not isinstance(actions, list):
        raise errors.invalid_json("actions: Missing required value")
    if len(actions) > MAX_ACTIONS:
        raise errors.invalid_input(f"The number of update actions must not exceed {MAX_ACTIONS}.")
    for position, action in enumerate(actions):
        if not isinstance(action, dict) or not isinstance(action.get("action"), str):
            raise errors.invalid_json(f"actions -> {position} -> action: Missing required value")
        handler = handlers.get(action["action"])
        if handler is None:
            raise errors.invalid_input(f"Unknown update action '{action['action']}' for {resource_name}.")
        before = jcopy(ctx.resource)
        emitted, forced = len(ctx.payloads), ctx.forced
        ctx.forced = False
        handler(ctx, action)
        if ctx.resource == before and not ctx.forced:
            del ctx.payloads[emitted:]
        ctx.forced = ctx.forced or forced


def same_object(target: Any) -> Callable[[Any], bool]:
    return lambda item: item is target


def set_or_drop(resource: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        resource.pop(name, None)
    else:
        resource[name] = value


class Repository:
    """One resource type's store: ids, an optional unique identifier field, ordered indexes, commits."""

    type_id = ""
    resource_name = ""  # plural, for error texts ("orders")
    key_field: str | None = "key"  # the unique user identifier ``GET /<plural>/key=…`` reads
    index_fields: tuple[str, ...] = ("id", "createdAt")

    def __init__(
        self, clock: Clock, messages: MessageLog, notify: Callable[[Change], None], schema: Schema | None
    ) -> None:
        self.clock = clock
        self.messages = messages
        self.notify = notify
        self.schema = schema
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.indexes = {name: OrderedIndex() for name in self.index_fields}

    # -- reads ------------------------------------------------------------------------------------
    def get(self, ident: str) -> dict[str, Any] | None:
        return self.by_id.get(ident)

    def get_by_key(self, key: str) -> dict[str, Any] | None:
        ident = self.by_key.get(key)
        return self.by_id.get(ident) if ident else None

    def require(self, ident: str, by_key: bool = False) -> dict[str, Any]:
        found = self.get_by_key(ident) if by_key else self.get(ident)
        if found is None:
            raise errors.resource_not_found(ident, by=(self.key_field or "key") if by_key else "ID")
        return found

    def collection(self) -> Collection:
        return Collection(
            all_items=lambda: list(self.by_id.values()),
            indexes=self.indexes,
            schema=self.schema,
            count=lambda: len(self.by_id),
        )

    def identifiers(self, resource: dict[str, Any]) -> dict[str, Any]:
        return user_provided_identifiers(resource)

    # -- checks -----------------------------------------------------------------------------------
    @staticmethod
    def check_version(current: dict[str, Any], version: Any) -> None:
        if not isinstance(version, int) or isinstance(version, bool):
            raise errors.invalid_json(
                "version: Missing required value" if version is None else "version: JSON Number expected."
            )
        if version != current["version"]:
            raise errors.concurrent_modification(current["id"], version, current["version"])

    def check_unique(self, resource: dict[str, Any]) -> None:
        """The identifier field is unique per project (``DuplicateField``)."""
        if self.key_field is None:
            return
        value = resource.get(self.key_field)
        if value is not None and self.by_key.get(value, resource["id"]) != resource["id"]:
            raise errors.duplicate_field(self.key_field, value)

    # -- index maintenance ------------------------------------------------------------------------
    def insert(self, resource: dict[str, Any]) -> None:
        self.by_id[resource["id"]] = resource
        if self.key_field is not None and resource.get(self.key_field) is not None:
            self.by_key[resource[self.key_field]] = resource["id"]
        for name, index in self.indexes.items():
            if name == "id":
                index.insert(resource["id"], resource)
            else:
                index.append(resource[name], resource)

    def bulk_insert(self, resources: Iterable[dict[str, Any]]) -> None:
        """Seeding: many resources at once, one merge per index instead of one insert each."""
        added = list(resources)
        for resource in added:
            self.by_id[resource["id"]] = resource
            if self.key_field is not None and resource.get(self.key_field) is not None:
                self.by_key[resource[self.key_field]] = resource["id"]
        for name, index in self.indexes.items():
            index.extend((resource[name], resource) for resource in added)

    def replace(self, current: dict[str, Any], updated: dict[str, Any]) -> None:
        self.by_id[updated["id"]] = updated
        if self.key_field is not None:
            old_key, new_key = current.get(self.key_field), updated.get(self.key_field)
            if old_key is not None and self.by_key.get(old_key) == current["id"]:
                del self.by_key[old_key]
            if new_key is not None:
                self.by_key[new_key] = updated["id"]
        for name, index in self.indexes.items():
            if current[name] == updated[name]:
                index.replace(current[name], current, updated)
            else:
                index.remove(current[name], same_object(current))
                index.append(updated[name], updated)

    def remove(self, current: dict[str, Any]) -> None:
        del self.by_id[current["id"]]
        if self.key_field is not None:
            key = current.get(self.key_field)
            if key is not None and self.by_key.get(key) == current["id"]:
                del self.by_key[key]
        for name, index in self.indexes.items():
            index.remove(current[name], same_object(current))

    # -- writes -----------------------------------------------------------------------------------
    def new_base(self, resource_id: str, actor: dict[str, Any], now: str | None = None) -> dict[str, Any]:
        """The ``BaseResource`` fields every new resource starts with."""
        stamp = now or self.clock.now_iso()
        return {
            "id": resource_id,
            "version": 1,
            "createdAt": stamp,
            "lastModifiedAt": stamp,
            "lastModifiedBy": dict(actor),
            "createdBy": dict(actor),
        }

    def save_new(self, resource: dict[str, Any], payloads: Payloads, actor: dict[str, Any]) -> dict[str, Any]:
        self.check_unique(resource)
        self.before_commit(resource, payloads)
        self.insert(resource)
        self.commit("ResourceCreated", resource, None, payloads, actor)
        return resource

    def save_update(
        self, current: dict[str, Any], ctx: ActionContext, actor: dict[str, Any]
    ) -> dict[str, Any]:
        """Commit an update whose actions ran on ``ctx.resource``; unchanged → ``current`` as it was."""
        updated = ctx.resource
        if updated == current and not ctx.forced:
            return current
        self.check_unique(updated)
        updated["version"] = current["version"] + 1
        updated["lastModifiedAt"] = ctx.now
        updated["lastModifiedBy"] = dict(actor)
        self.before_commit(updated, ctx.payloads)
        self.replace(current, updated)
        self.commit("ResourceUpdated", updated, current["version"], ctx.payloads, actor)
        return updated

    def save_delete(
        self,
        current: dict[str, Any],
        version: Any,
        payloads: Payloads,
        actor: dict[str, Any],
        data_erasure: bool | None = None,
    ) -> dict[str, Any]:
        self.check_version(current, version)
        self.remove(current)
        self.commit(
            "ResourceDeleted",
            {**current, "version": current["version"] + 1},
            current["version"],
            payloads,
            actor,
            data_erasure,
        )
        return current

    def before_commit(self, resource: dict[str, Any], payloads: Payloads) -> None:
        """Hook: orders keep ``lastMessageSequenceNumber`` in step with their Messages."""

    def commit(
        self,
        kind: str,
        resource: dict[str, Any],
        old_version: int | None,
        payloads: Payloads,
        actor: dict[str, Any],
        data_erasure: bool | None = None,
        *,
        notify: bool = True,
    ) -> list[dict[str, Any]]:
        modified_at = resource["lastModifiedAt"] if kind != "ResourceDeleted" else self.clock.now_iso()
        identifiers = self.identifiers(resource)
        messages = self.messages.record(
            type_id=self.type_id,
            resource_id=resource["id"],
            resource_version=resource["version"],
            identifiers=identifiers,
            payloads=payloads,
            created_at=modified_at,
            actor=actor,
        )
        if notify:
            self.notify(
                Change(
                    kind=kind,
                    type_id=self.type_id,
                    resource_id=resource["id"],
                    identifiers=identifiers,
                    version=resource["version"],
                    old_version=old_version,
                    modified_at=modified_at,
                    data_erasure=data_erasure if kind == "ResourceDeleted" else None,
                    messages=messages,
                )
            )
        return messages
