"""``POST /api/event-bulk-create-jobs`` (bulk_create_events): many events for many profiles, 202.

Body (spec ``EventsBulkCreateJob``)::

    {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": [
        {"type": "event-bulk-create", "attributes": {
            "profile": {"data": {"type": "profile", "id"?, "attributes": {...}, "meta"?: {...}}},
            "events": {"data": [{"type": "event", "attributes": {"properties", "metric", "time"?,
                                 "value"?, "value_currency"?, "unique_id"?, "backfill"?}}]}}}]}}}}

Limits and rules from the spec: at most 1,000 events per request (400), 5 MB per payload (413), no
string over 100 KB, at most 400 properties per event, metric names under 128 characters, event times
after 1990 and at most a year ahead, and a profile identifier on every profile. "If a unique_id is
repeated for the same profile and metric, the request will fail and no events will be processed":
the whole request is a 400 pointing at the repeated ``unique_id`` and nothing is written. Profiles
are "the same" when they resolve to the same stored profile or share an identifier value.

The spec answers 202 with no body and has no endpoint to read such a job back, so — like
``POST /api/events`` here — the emulator writes everything before answering: profiles are created or
updated exactly as ``create_event`` does, and each event is deduplicated against everything stored by
(profile, metric, unique_id), the default unique_id being the event time to the second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from crmsync.emulators.klaviyo.context import MB, accepted, context, read_json
from crmsync.emulators.klaviyo.errors import invalid
from crmsync.emulators.klaviyo.ids import now, parse_datetime
from crmsync.emulators.klaviyo.routes_events import check_profile_identity, check_strings
from crmsync.emulators.klaviyo.store import Event, Profile, Store
from crmsync.emulators.klaviyo.validation import (
    IDENTIFIERS,
    UPSERT_FIELDS,
    PatchOps,
    patch_ops,
    profile_attributes,
    resource,
)

JOB_TYPE = "event-bulk-create-job"
MAX_EVENTS = 1000
MAX_REQUEST_BYTES = 5 * MB
MAX_PROPERTIES = 400
MAX_STRING_BYTES = 100 * 1024
MAX_METRIC_NAME = 127  # "Must be less than 128 characters."
BULK_PROFILE_FIELDS = UPSERT_FIELDS | {"anonymous_id"}  # OnsiteProfileCreateQueryResourceObject
ROOT = "/data/attributes/events-bulk-create/data"


@dataclass(slots=True)
class ParsedEvent:
    metric: str
    service: str | None
    properties: dict[str, Any]
    time: datetime | None
    value: float | None
    value_currency: str | None
    unique_id: str | None
    pointer: str


@dataclass(slots=True)
class ParsedEntry:
    profile_id: str | None
    attrs: dict[str, Any]
    ops: PatchOps
    events: list[ParsedEvent]


def _object(value: Any, pointer: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"'{name}' is required and must be an object.", pointer=pointer)
    return value


def _typed(value: Any, expected: str, pointer: str) -> dict[str, Any]:
    data = _object(value, pointer, "data")
    if data.get("type") != expected:
        raise invalid(f"The resource object must have type '{expected}'.", pointer=f"{pointer}/type")
    return data


def _check_strings(value: Any, pointer: str) -> None:
    check_strings(value, pointer, "A single string cannot exceed 100KB.")


def _time(raw: Any, pointer: str) -> datetime | None:
    if raw is None:
        return None
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None:
        raise invalid(f"Invalid date-time {raw!r}.", pointer=pointer)
    moment = moment.replace(microsecond=0)
    if moment.year < 1990 or moment > now() + timedelta(days=365):
        raise invalid(
            "Event time must be after 1990 and no more than one year in the future.", pointer=pointer
        )
    return moment


def _event(value: Any, pointer: str) -> ParsedEvent:
    data = _typed(value, "event", pointer)
    attrs = _object(data.get("attributes"), f"{pointer}/attributes", "attributes")
    base = f"{pointer}/attributes"
    properties = _object(attrs.get("properties"), f"{base}/properties", "properties")
    if len(properties) > MAX_PROPERTIES:
        raise invalid(
            f"An event can have at most {MAX_PROPERTIES} properties; got {len(properties)}.",
            pointer=f"{base}/properties",
        )
    _check_strings(properties, f"{base}/properties")
    metric_ptr = f"{base}/metric/data"
    metric = _typed(
        _object(attrs.get("metric"), f"{base}/metric", "metric").get("data"), "metric", metric_ptr
    )
    metric_attrs = _object(metric.get("attributes"), f"{metric_ptr}/attributes", "attributes")
    name = metric_attrs.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("The metric name is required.", pointer=f"{metric_ptr}/attributes/name")
    if len(name.strip()) > MAX_METRIC_NAME:
        raise invalid(
            "The metric name must be less than 128 characters.", pointer=f"{metric_ptr}/attributes/name"
        )
    service = metric_attrs.get("service")
    if service is not None and not isinstance(service, str):
        raise invalid("'service' must be a string.", pointer=f"{metric_ptr}/attributes/service")
    value = attrs.get("value")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise invalid("'value' must be a number.", pointer=f"{base}/value")
    for key in ("value_currency", "unique_id"):
        if attrs.get(key) is not None and not isinstance(attrs[key], str):
            raise invalid(f"'{key}' must be a string.", pointer=f"{base}/{key}")
    if attrs.get("backfill") is not None and not isinstance(attrs["backfill"], bool):
        raise invalid("'backfill' must be a boolean.", pointer=f"{base}/backfill")
    return ParsedEvent(
        metric=name.strip(),
        service=service,
        properties=dict(properties),
        time=_time(attrs.get("time"), f"{base}/time"),
        value=float(value) if value is not None else None,
        value_currency=attrs.get("value_currency"),
        unique_id=attrs.get("unique_id") or None,
        pointer=pointer,
    )


def _entry(store: Store, value: Any, pointer: str) -> ParsedEntry:
    data = _typed(value, "event-bulk-create", pointer)
    base = f"{pointer}/attributes"
    attrs = _object(data.get("attributes"), base, "attributes")
    if attrs.get("backfill") is not None and not isinstance(attrs["backfill"], bool):
        raise invalid("'backfill' must be a boolean.", pointer=f"{base}/backfill")
    profile_ptr = f"{base}/profile/data"
    profile = _typed(
        _object(attrs.get("profile"), f"{base}/profile", "profile").get("data"), "profile", profile_ptr
    )
    profile_attrs = profile_attributes(
        profile.get("attributes") or {}, allowed=BULK_PROFILE_FIELDS, pointer=f"{profile_ptr}/attributes"
    )
    _check_strings(profile_attrs, f"{profile_ptr}/attributes")
    ops = patch_ops(profile.get("meta"), f"{profile_ptr}/meta")
    profile_id = check_profile_identity(store, profile.get("id"), profile_attrs, profile_ptr)
    events_ptr = f"{base}/events"
    events = _object(attrs.get("events"), events_ptr, "events").get("data")
    if not isinstance(events, list) or not events:
        raise invalid(
            "'events' must be an object with a non-empty 'data' array.", pointer=f"{events_ptr}/data"
        )
    parsed = [_event(event, f"{events_ptr}/data/{index}") for index, event in enumerate(events)]
    return ParsedEntry(profile_id or None, profile_attrs, ops, parsed)


def _resolve(store: Store, entry: ParsedEntry) -> Profile | None:
    """The stored profile an entry addresses (by id, identifiers, anonymous_id), as create_event does."""
    if entry.profile_id and entry.profile_id in store.profiles:
        return store.profiles[entry.profile_id]
    matched = store.matches(entry.attrs)
    if matched:
        return store.profiles[matched[0]]
    anonymous = entry.attrs.get("anonymous_id")
    if anonymous and anonymous in store.anonymous:
        return store.profiles[store.anonymous[anonymous]]
    return None


def _profile_keys(store: Store, entries: list[ParsedEntry]) -> list[str]:
    """One key per entry; entries for the same (stored or yet-to-be-created) profile share it."""
    groups: dict[tuple[str, str], str] = {}
    keys: list[str] = []
    for index, entry in enumerate(entries):
        found = _resolve(store, entry)
        idents = [
            (name, value.lower() if name == "email" else value)
            for name in (*IDENTIFIERS, "anonymous_id")
            if isinstance(value := entry.attrs.get(name), str) and value
        ]
        key = (
            found.id
            if found is not None
            else next((groups[i] for i in idents if i in groups), f"new-{index}")
        )
        for ident in idents:
            groups.setdefault(ident, key)
        keys.append(key)
    return keys


def _check_repeats(keys: list[str], entries: list[ParsedEntry]) -> None:
    seen: dict[tuple[str, str, str], str] = {}
    for key, entry in zip(keys, entries, strict=True):
        for event in entry.events:
            if event.unique_id is None:
                continue
            dedup = (key, event.metric, event.unique_id)
            if dedup in seen:
                raise invalid(
                    f"unique_id {event.unique_id!r} is repeated for the same profile and metric "
                    f"(first at {seen[dedup]}); no events were processed.",
                    pointer=f"{event.pointer}/attributes/unique_id",
                )
            seen[dedup] = event.pointer


def _apply(store: Store, entry: ParsedEntry, default_time: datetime) -> None:
    attrs = dict(entry.attrs)
    profile = _resolve(store, entry)
    if profile is None:
        profile = store.create_profile(attrs, entry.ops)
    else:
        for key in IDENTIFIERS:  # identifiers owned by someone else are not moved by an event
            owner = store.owner(key, attrs.get(key))
            if owner is not None and owner != profile.id:
                attrs.pop(key)
        store.update_profile(profile, attrs, entry.ops)
    for event in entry.events:
        moment = event.time or default_time
        metric = store.metric_for(event.metric, event.service)
        store.add_event(
            Event(
                id=store.ids.short(11),
                uuid=store.ids.uuid(),
                metric_id=metric.id,
                profile_id=profile.id,
                time=moment,
                properties=event.properties,
                value=event.value,
                value_currency=event.value_currency,
                unique_id=event.unique_id or str(int(moment.timestamp())),
            )
        )


async def bulk_create_events(request: web.Request) -> web.Response:
    store = context(request).store
    data = resource(await read_json(request, MAX_REQUEST_BYTES), JOB_TYPE)
    attributes = _object(data.get("attributes"), "/data/attributes", "attributes")
    container = _object(
        attributes.get("events-bulk-create"), "/data/attributes/events-bulk-create", "events-bulk-create"
    )
    raw = container.get("data")
    if not isinstance(raw, list) or not raw:
        raise invalid("'events-bulk-create' must have a non-empty 'data' array.", pointer=ROOT)
    total = sum(
        len(events)
        for item in raw
        if isinstance(item, dict)
        and isinstance(item.get("attributes"), dict)
        and isinstance(item["attributes"].get("events"), dict)
        and isinstance(events := item["attributes"]["events"].get("data"), list)
    )
    if total > MAX_EVENTS:
        raise invalid(f"A request accepts at most {MAX_EVENTS} events; got {total}.", pointer=ROOT)
    entries = [_entry(store, item, f"{ROOT}/{index}") for index, item in enumerate(raw)]
    _check_repeats(_profile_keys(store, entries), entries)
    moment = now()
    for entry in entries:
        _apply(store, entry, moment)
    return accepted()
