"""Customer repository: create / read / update / delete / query with the platform's invariants.

Invariants kept here: optimistic concurrency (``version`` must match, else 409 with
``currentVersion``), one version step per update request that changes something (an update that
changes nothing returns the customer unchanged), unique ``key`` and ``customerNumber`` per project,
unique email (case-insensitive) among global customers and within each Store, and a Message +
change notification for every committed change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors
from ._util import Clock, new_id
from .customer_actions import apply_actions
from .customer_draft import References, build_customer
from .messages import Change, MessageLog, user_provided_identifiers
from .querying import Collection, OrderedIndex

_ADDRESS_SCHEMA: dict[str, Any] = {
    name: None
    for name in (
        "id", "key", "country", "title", "salutation", "firstName", "lastName", "streetName", "streetNumber",
        "additionalStreetInfo", "postalCode", "city", "region", "state", "company", "department", "building",
        "apartment", "pOBox", "phone", "mobile", "email", "fax", "additionalAddressInfo", "externalId",
        "custom",
    )
}  # fmt: skip
_ACTOR_SCHEMA: dict[str, Any] = {
    n: None
    for n in ("clientId", "externalUserId", "customer", "anonymousId", "associate", "isPlatformClient")
}
CUSTOMER_SCHEMA: dict[str, Any] = {
    **{
        name: None
        for name in (
            "id", "version", "key", "customerNumber", "externalId", "createdAt", "lastModifiedAt", "email",
            "lowercaseEmail", "password", "firstName", "lastName", "middleName", "title", "salutation",
            "dateOfBirth", "companyName", "vatId", "defaultShippingAddressId", "shippingAddressIds",
            "defaultBillingAddressId", "billingAddressIds", "isEmailVerified", "locale", "authenticationMode",
        )
    },
    "addresses": _ADDRESS_SCHEMA,
    "customerGroup": {"typeId": None, "id": None},
    "customerGroupAssignments": {"customerGroup": {"typeId": None, "id": None}},
    "custom": {"type": {"typeId": None, "id": None}, "fields": None},
    "stores": {"typeId": None, "key": None},
    "createdBy": _ACTOR_SCHEMA,
    "lastModifiedBy": _ACTOR_SCHEMA,
}  # fmt: skip


def _lower(email: str) -> str:
    return email.lower()


def _with_lowercase_email(customer: dict[str, Any]) -> dict[str, Any]:
    return {**customer, "lowercaseEmail": customer["email"].lower()}


class CustomerRepository:
    """All customers of the project with the indexes queries and uniqueness checks need."""

    def __init__(
        self, clock: Clock, refs: References, messages: MessageLog, notify: Callable[[Change], None]
    ) -> None:
        self._clock = clock
        self._refs = refs
        self._messages = messages
        self._notify = notify
        self.by_id: dict[str, dict[str, Any]] = {}
        self._by_key: dict[str, str] = {}
        self._by_number: dict[str, str] = {}
        self._by_email: dict[str, set[str]] = {}
        self._id_index = OrderedIndex()
        self._created_index = OrderedIndex()

    # -- reads ------------------------------------------------------------------------------------
    def get(self, customer_id: str) -> dict[str, Any] | None:
        return self.by_id.get(customer_id)

    def get_by_key(self, key: str) -> dict[str, Any] | None:
        customer_id = self._by_key.get(key)
        return self.by_id.get(customer_id) if customer_id else None

    def require(self, ident: str, by_key: bool) -> dict[str, Any]:
        found = self.get_by_key(ident) if by_key else self.get(ident)
        if found is None:
            raise errors.resource_not_found(ident, by="key" if by_key else "ID")
        return found

    def collection(self, *, with_lowercase_email: bool = False) -> Collection:
        """The queryable collection; ``lowercaseEmail`` (a query-only field) is added when asked for."""
        return Collection(
            all_items=lambda: list(self.by_id.values()),
            indexes={"id": self._id_index, "createdAt": self._created_index},
            schema=CUSTOMER_SCHEMA,
            count=lambda: len(self.by_id),
            adapt=_with_lowercase_email if with_lowercase_email else None,
        )

    # -- uniqueness -------------------------------------------------------------------------------
    def _check_unique(self, customer: dict[str, Any]) -> None:
        own = customer["id"]
        key = customer.get("key")
        if key is not None and self._by_key.get(key, own) != own:
            raise errors.duplicate_field("key", key)
        number = customer.get("customerNumber")
        if number is not None and self._by_number.get(number, own) != own:
            raise errors.duplicate_field("customerNumber", number)
        stores = {s["key"] for s in customer["stores"]}
        for other_id in self._by_email.get(_lower(customer["email"]), ()):
            if other_id == own:
                continue
            other_stores = {s["key"] for s in self.by_id[other_id]["stores"]}
            if not stores or not other_stores or stores & other_stores:
                raise errors.duplicate_field(
                    "email",
                    customer["email"],
                    "There is already an existing customer with the provided email.",
                )

    def _index(self, customer: dict[str, Any]) -> None:
        own = customer["id"]
        if customer.get("key") is not None:
            self._by_key[customer["key"]] = own
        if customer.get("customerNumber") is not None:
            self._by_number[customer["customerNumber"]] = own
        self._by_email.setdefault(_lower(customer["email"]), set()).add(own)

    def _unindex(self, customer: dict[str, Any]) -> None:
        own = customer["id"]
        if self._by_key.get(customer.get("key") or "") == own:
            del self._by_key[customer["key"]]
        if self._by_number.get(customer.get("customerNumber") or "") == own:
            del self._by_number[customer["customerNumber"]]
        ids = self._by_email.get(_lower(customer["email"]))
        if ids is not None:
            ids.discard(own)
            if not ids:
                del self._by_email[_lower(customer["email"])]

    # -- writes -----------------------------------------------------------------------------------
    def create(self, draft: Any, actor: dict[str, Any]) -> dict[str, Any]:
        now = self._clock.now_iso()
        customer = build_customer(draft, self._refs, customer_id=new_id(), now=now, actor=actor)
        self._check_unique(customer)
        self.by_id[customer["id"]] = customer
        self._index(customer)
        self._id_index.insert(customer["id"], customer)
        self._created_index.append(customer["createdAt"], customer)
        self._commit("ResourceCreated", customer, None, [("CustomerCreated", {"customer": customer})], actor)
        return customer

    def update(
        self, ident: str, by_key: bool, version: Any, actions: Any, actor: dict[str, Any]
    ) -> dict[str, Any]:
        current = self.require(ident, by_key)
        if not isinstance(version, int) or isinstance(version, bool):
            raise errors.invalid_json(
                "version: Missing required value" if version is None else "version: JSON Number expected."
            )
        if version != current["version"]:
            raise errors.concurrent_modification(current["id"], version, current["version"])
        ctx = apply_actions(current, actions, self._refs)
        updated = ctx.customer
        if updated == current:
            return current
        self._check_unique(updated)
        old_version = current["version"]
        updated["version"] = old_version + 1
        updated["lastModifiedAt"] = self._clock.now_iso()
        updated["lastModifiedBy"] = dict(actor)
        self._replace(current, updated)
        self._commit("ResourceUpdated", updated, old_version, ctx.payloads, actor)
        return updated

    def delete(
        self, ident: str, by_key: bool, version: Any, data_erasure: bool, actor: dict[str, Any]
    ) -> dict[str, Any]:
        current = self.require(ident, by_key)
        if version != current["version"]:
            raise errors.concurrent_modification(current["id"], version, current["version"])
        del self.by_id[current["id"]]
        self._unindex(current)
        self._id_index.remove(current["id"], lambda item: item is current)
        self._created_index.remove(current["createdAt"], lambda item: item is current)
        deleted = dict(current)
        deleted["version"] = current["version"] + 1
        payload = {} if data_erasure else {"email": current["email"]}
        self._commit(
            "ResourceDeleted",
            deleted,
            current["version"],
            [("CustomerDeleted", payload)],
            actor,
            data_erasure,
        )
        return current

    def _replace(self, current: dict[str, Any], updated: dict[str, Any]) -> None:
        self._unindex(current)
        self.by_id[updated["id"]] = updated
        self._index(updated)
        self._id_index.replace(current["id"], current, updated)
        self._created_index.replace(current["createdAt"], current, updated)

    def _commit(
        self,
        kind: str,
        customer: dict[str, Any],
        old_version: int | None,
        payloads: list[tuple[str, dict[str, Any]]],
        actor: dict[str, Any],
        data_erasure: bool | None = None,
    ) -> None:
        modified_at = customer["lastModifiedAt"] if kind != "ResourceDeleted" else self._clock.now_iso()
        identifiers = user_provided_identifiers(customer)
        messages = self._messages.record(
            type_id="customer",
            resource_id=customer["id"],
            resource_version=customer["version"],
            identifiers=identifiers,
            payloads=payloads,
            created_at=modified_at,
            actor=actor,
        )
        self._notify(
            Change(
                kind=kind,
                type_id="customer",
                resource_id=customer["id"],
                identifiers=identifiers,
                version=customer["version"],
                old_version=old_version,
                modified_at=modified_at,
                data_erasure=data_erasure if kind == "ResourceDeleted" else None,
                messages=messages,
            )
        )
