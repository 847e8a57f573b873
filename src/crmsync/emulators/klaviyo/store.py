"""In-memory Klaviyo account: profiles (indexed by identifier), lists, metrics, events, catalog.

Write semantics mirror the real API:

* ``null`` clears a field, an absent field is left unchanged; ``location`` merges per sub-field;
  ``properties`` merges per key (``properties: null`` clears them all); ``meta.patch_properties``
  appends to / removes from list properties and unsets keys;
* an identifier (email, phone_number, external_id) belongs to at most one profile — a write that
  would give it to a second profile is a 409 ``duplicate_profile`` naming the owner;
* emails match case-insensitively;
* each profile carries its consent state (``Profile.consent``, :mod:`.subscriptions`); a consent
  change bumps ``updated`` (:meth:`Store.touch`), which is what "profiles updated since" polls read;
* a data-privacy deletion (:meth:`Store.delete_profile`) removes the profile with its identifiers,
  list memberships and events.

All mutations run on the server's event loop; ``lock`` guards readers in other threads (tests and
SDK fidelity runs read state while the server thread writes).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmsync.emulators.klaviyo.catalog_store import CatalogStore
from crmsync.emulators.klaviyo.errors import duplicate_profile, not_found
from crmsync.emulators.klaviyo.ids import IdFactory, now
from crmsync.emulators.klaviyo.privacy import DeletionRequest
from crmsync.emulators.klaviyo.subscriptions import ConsentSettings, ProfileConsent, filter_values
from crmsync.emulators.klaviyo.validation import IDENTIFIERS, LOCATION_FIELDS, STRING_FIELDS, PatchOps


def _key(field_name: str, value: str) -> str:
    return value.lower() if field_name == "email" else value


@dataclass(slots=True)
class Profile:
    id: str
    created: datetime
    updated: datetime
    attributes: dict[str, Any] = field(default_factory=dict)  # STRING_FIELDS values (None when unset)
    location: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    anonymous_id: str | None = None
    last_event_date: datetime | None = None
    lists: dict[str, datetime] = field(default_factory=dict)  # list id -> joined_group_at
    consent: ProfileConsent = field(default_factory=ProfileConsent)  # subscriptions.py

    def get(self, name: str) -> Any:
        """Field accessor used by filters and sorting."""
        if name == "id":
            return self.id
        if name == "created":
            return self.created
        if name == "updated":
            return self.updated
        if name == "email":
            email = self.attributes.get("email")
            return email.lower() if isinstance(email, str) else None
        if name.startswith("subscriptions."):
            return filter_values(self.consent, name)
        return self.attributes.get(name)

    def snapshot(self) -> dict[str, Any]:
        """A plain-dict copy for tests (``emulator.profiles[id]``)."""
        return {
            "id": self.id,
            **{k: self.attributes.get(k) for k in STRING_FIELDS},
            "location": dict(self.location),
            "properties": dict(self.properties),
            "created": self.created,
            "updated": self.updated,
            "last_event_date": self.last_event_date,
            "lists": sorted(self.lists),
            "subscriptions": self.consent.summary(),
        }


@dataclass(slots=True)
class KList:
    id: str
    name: str
    opt_in_process: str
    created: datetime
    updated: datetime
    members: dict[str, datetime] = field(default_factory=dict)  # profile id -> joined_group_at


@dataclass(slots=True)
class Metric:
    id: str
    name: str
    service: str | None
    created: datetime
    updated: datetime


@dataclass(slots=True)
class Event:
    id: str
    uuid: str
    metric_id: str
    profile_id: str
    time: datetime
    properties: dict[str, Any]
    value: float | None
    value_currency: str | None
    unique_id: str


class Store:
    """The account's data plus identifier indexes for O(1) matching."""

    def __init__(self, ids: IdFactory) -> None:
        self.ids = ids
        self.lock = threading.RLock()
        self.profiles: dict[str, Profile] = {}
        self.order: list[str] = []  # profile ids, ascending (ULIDs are monotonic)
        self.index: dict[str, dict[str, str]] = {name: {} for name in IDENTIFIERS}
        self.anonymous: dict[str, str] = {}
        self.lists: dict[str, KList] = {}
        self.metrics: dict[str, Metric] = {}
        self.metrics_by_name: dict[str, str] = {}
        self.events: list[Event] = []
        self.events_by_id: dict[str, Event] = {}
        self.event_keys: set[tuple[str, str, str]] = set()
        self.catalog = CatalogStore(self.lock)  # catalog items and categories (catalog_store.py)
        # consent (subscriptions.py) and data privacy (privacy.py)
        self.consent_settings = ConsentSettings()  # shared by every profile's ProfileConsent
        self.deletion_requests: list[DeletionRequest] = []  # in request order (privacy.py)

    # -- lookups ---------------------------------------------------------------------------------
    def profile(self, profile_id: str) -> Profile:
        found = self.profiles.get(profile_id)
        if found is None:
            raise not_found(f"A profile with id {profile_id} does not exist.")
        return found

    def owner(self, name: str, value: str | None) -> str | None:
        if not value:
            return None
        return self.index[name].get(_key(name, value))

    def matches(self, attrs: dict[str, Any]) -> list[str]:
        """Distinct profile ids owning the identifiers in ``attrs`` (email, phone, external_id order)."""
        found: list[str] = []
        for name in IDENTIFIERS:
            owner = self.owner(name, attrs.get(name))
            if owner is not None and owner not in found:
                found.append(owner)
        return found

    def ids_in_order(self, *, reverse: bool = False, after: str | None = None) -> list[str]:
        """Profile ids in id order, strictly after (or before, when reversed) the cursor id."""
        if after is None:
            return self.order[::-1] if reverse else self.order
        if reverse:
            return self.order[: bisect_left(self.order, after)][::-1]
        return self.order[bisect_right(self.order, after) :]

    # -- writes ----------------------------------------------------------------------------------
    def create_profile(self, attrs: dict[str, Any], ops: PatchOps | None = None) -> Profile:
        """Create a profile; 409 ``duplicate_profile`` if any identifier is already owned."""
        for name in IDENTIFIERS:
            owner = self.owner(name, attrs.get(name))
            if owner is not None:
                raise duplicate_profile(owner)
        moment = now()
        with self.lock:
            profile = Profile(
                id=self.ids.ulid(),
                created=moment,
                updated=moment,
                attributes=dict.fromkeys(STRING_FIELDS),
                location=dict.fromkeys(LOCATION_FIELDS),
                consent=ProfileConsent(settings=self.consent_settings),
            )
            self._apply(profile, attrs, ops)
            self.profiles[profile.id] = profile
            self.order.append(profile.id)
            self._reindex(profile, {})
        return profile

    def update_profile(self, profile: Profile, attrs: dict[str, Any], ops: PatchOps | None = None) -> Profile:
        """Apply a partial update; 409 ``duplicate_profile`` if an identifier belongs to another profile."""
        for name in IDENTIFIERS:
            owner = self.owner(name, attrs.get(name))
            if owner is not None and owner != profile.id:
                raise duplicate_profile(owner)
        before = {name: profile.attributes.get(name) for name in IDENTIFIERS}
        with self.lock:
            self._apply(profile, attrs, ops)
            profile.updated = now()
            self._reindex(profile, before)
        return profile

    def upsert(
        self, attrs: dict[str, Any], ops: PatchOps | None = None, profile_id: str | None = None
    ) -> tuple[Profile, bool]:
        """create_or_update_profile: match by id, else by identifiers. Returns (profile, created).

        * ``id`` given: update it (404 if unknown). An identifier owned by another profile is a 404
          too — a documented quirk of the real endpoint (see apis.md §2.2), not a 409;
        * identifiers matching nothing: create; matching exactly one profile: update it;
          matching two or more different profiles: 409 ``duplicate_profile``.
        """
        if profile_id:
            profile = self.profile(profile_id)
            for name in IDENTIFIERS:
                owner = self.owner(name, attrs.get(name))
                if owner is not None and owner != profile.id:
                    raise not_found(
                        f"A profile with id {profile_id} and {name} {attrs[name]!r} does not exist."
                    )
            return self.update_profile(profile, attrs, ops), False
        matched = self.matches(attrs)
        if not matched:
            return self.create_profile(attrs, ops), True
        if len(matched) > 1:
            raise duplicate_profile(matched[1])
        return self.update_profile(self.profiles[matched[0]], attrs, ops), False

    def _apply(self, profile: Profile, attrs: dict[str, Any], ops: PatchOps | None) -> None:
        for key, value in attrs.items():
            if key in STRING_FIELDS:
                profile.attributes[key] = value
            elif key == "location":
                if value is None:
                    profile.location = dict.fromkeys(LOCATION_FIELDS)
                else:
                    profile.location.update(value)
            elif key == "properties":
                if value is None:
                    profile.properties = {}
                else:
                    profile.properties.update(value)
            elif key == "anonymous_id":
                if value:
                    profile.anonymous_id = value
                    self.anonymous[value] = profile.id
        if ops:
            _patch_properties(profile.properties, ops)

    def _reindex(self, profile: Profile, before: dict[str, Any], *, drop: bool = False) -> None:
        for name in IDENTIFIERS:
            old, new = before.get(name), profile.attributes.get(name)
            if drop:
                old, new = new, None
            if old == new:
                continue
            if old:
                self.index[name].pop(_key(name, old), None)
            if new:
                self.index[name][_key(name, new)] = profile.id

    def touch(self, profile: Profile) -> None:
        """Mark a profile changed (consent writes): ``updated`` is what change polling reads."""
        profile.updated = now()

    def delete_profile(self, profile_id: str) -> bool:
        """Remove a profile with its identifiers, list memberships and events. False if absent."""
        with self.lock:
            profile = self.profiles.pop(profile_id, None)
            if profile is None:
                return False
            position = bisect_left(self.order, profile_id)
            if position < len(self.order) and self.order[position] == profile_id:
                del self.order[position]
            else:  # pragma: no cover - order is kept sorted; fall back to a scan
                self.order.remove(profile_id)
            self._reindex(profile, {}, drop=True)
            if profile.anonymous_id is not None:
                self.anonymous.pop(profile.anonymous_id, None)
            for list_id in profile.lists:
                klist = self.lists.get(list_id)
                if klist is not None:
                    klist.members.pop(profile_id, None)
            gone = [event for event in self.events if event.profile_id == profile_id]
            if gone:
                self.events = [event for event in self.events if event.profile_id != profile_id]
                for event in gone:
                    self.events_by_id.pop(event.id, None)
                    self.event_keys.discard((event.profile_id, event.metric_id, event.unique_id))
        return True

    # -- lists -----------------------------------------------------------------------------------
    def create_list(self, name: str, opt_in_process: str) -> KList:
        moment = now()
        with self.lock:
            klist = KList(self.ids.short(), name, opt_in_process, moment, moment)
            self.lists[klist.id] = klist
        return klist

    def klist(self, list_id: str) -> KList:
        found = self.lists.get(list_id)
        if found is None:
            raise not_found(f"A list with id {list_id} does not exist.")
        return found

    def add_to_list(self, klist: KList, profile: Profile) -> None:
        if profile.id in klist.members:
            return
        moment = now()
        with self.lock:
            klist.members[profile.id] = moment
            profile.lists[klist.id] = moment

    def remove_from_list(self, klist: KList, profile: Profile) -> bool:
        with self.lock:
            found = klist.members.pop(profile.id, None) is not None
            profile.lists.pop(klist.id, None)
        return found

    # -- metrics and events ----------------------------------------------------------------------
    def metric_for(self, name: str, service: str | None) -> Metric:
        metric_id = self.metrics_by_name.get(name)
        if metric_id is not None:
            return self.metrics[metric_id]
        moment = now()
        with self.lock:
            metric = Metric(self.ids.short(), name, service, moment, moment)
            self.metrics[metric.id] = metric
            self.metrics_by_name[name] = metric.id
        return metric

    def metric(self, metric_id: str) -> Metric:
        found = self.metrics.get(metric_id)
        if found is None:
            raise not_found(f"A metric with id {metric_id} does not exist.")
        return found

    def add_event(self, event: Event) -> bool:
        """Record an event unless (profile, metric, unique_id) was seen before. True if stored."""
        key = (event.profile_id, event.metric_id, event.unique_id)
        if key in self.event_keys:
            return False
        with self.lock:
            self.event_keys.add(key)
            self.events.append(event)
            self.events_by_id[event.id] = event
            profile = self.profiles.get(event.profile_id)
            if profile is not None and (
                profile.last_event_date is None or event.time > profile.last_event_date
            ):
                profile.last_event_date = event.time
        return True

    def event(self, event_id: str) -> Event:
        found = self.events_by_id.get(event_id)
        if found is None:
            raise not_found(f"An event with id {event_id} does not exist.")
        return found


def _patch_properties(properties: dict[str, Any], ops: PatchOps) -> None:
    for key, value in ops.append.items():
        current = properties.get(key)
        items = current if isinstance(current, list) else ([] if current is None else [current])
        items.extend(value if isinstance(value, list) else [value])
        properties[key] = items
    for key, value in ops.unappend.items():
        current = properties.get(key)
        if isinstance(current, list):
            drop = value if isinstance(value, list) else [value]
            properties[key] = [item for item in current if item not in drop]
    for key in ops.unset:
        properties.pop(key, None)
