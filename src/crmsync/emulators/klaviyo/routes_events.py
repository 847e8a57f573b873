"""Events and metrics: create_event (202, also creates/updates the profile), get_events, get_metrics.

Real Klaviyo validates ``POST /api/events`` synchronously and processes it later; the emulator
processes it before answering so tests can read the event back at once. Deduplication follows the
docs: one event per (profile, metric, unique_id), and without ``unique_id`` the timestamp to the
second stands in for it (so at most one such event per profile, metric and second).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from crmsync.emulators.klaviyo import filters, query, render
from crmsync.emulators.klaviyo.context import MB, accepted, base_url, context, read_json, respond
from crmsync.emulators.klaviyo.errors import invalid
from crmsync.emulators.klaviyo.filters import spec
from crmsync.emulators.klaviyo.ids import now, parse_datetime
from crmsync.emulators.klaviyo.store import Event, Metric, Profile, Store
from crmsync.emulators.klaviyo.validation import (
    EVENT_PROFILE_FIELDS,
    IDENTIFIERS,
    patch_ops,
    profile_attributes,
    resource,
)

EVENT_MAX_BYTES = 5 * MB
MAX_PROPERTIES = 400
MAX_STRING_BYTES = 100 * 1024

EVENT_FILTERS: dict[str, filters.FieldSpec] = {
    "metric_id": spec("equals", list_ops="equals"),
    "profile_id": spec("equals"),
    "profile": spec("has"),
    "metric": spec("has"),
    "datetime": spec("greater-or-equal greater-than less-or-equal less-than", "datetime"),
    "timestamp": spec("greater-or-equal greater-than less-or-equal less-than", "number"),
}
METRIC_FILTERS: dict[str, filters.FieldSpec] = {
    "integration.name": spec("equals"),
    "integration.category": spec("equals"),
}
EVENT_FIELDS = ("datetime", "event_properties", "id", "timestamp", "uuid")


def _object(value: Any, pointer: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"'{name}' is required and must be an object.", pointer=pointer)
    return value


def check_profile_identity(store: Store, profile_id: Any, attrs: dict[str, Any], pointer: str) -> str | None:
    """The event's profile must be named: an existing id, or an identifier Klaviyo can match on.
    (``_kx`` alone is not enough: the emulator has no exchange ids to resolve it against.)"""
    if profile_id is not None and not isinstance(profile_id, str):
        raise invalid("'id' must be a string.", pointer=f"{pointer}/id")
    has_identifier = any(attrs.get(k) for k in (*IDENTIFIERS, "anonymous_id"))
    if not profile_id and not has_identifier:
        raise invalid(
            "A profile identifier (id, email, phone_number, external_id or anonymous_id) is required.",
            pointer=f"{pointer}/attributes",
        )
    if profile_id and profile_id not in store.profiles and not has_identifier:
        raise invalid(f"A profile with id {profile_id} does not exist.", pointer=f"{pointer}/id")
    return profile_id


def check_strings(value: Any, pointer: str, message: str) -> None:
    """400 when any string anywhere inside ``value`` is longer than 100 KB (UTF-8)."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif (
            isinstance(item, str)
            and len(item) > MAX_STRING_BYTES // 4
            and len(item.encode()) > MAX_STRING_BYTES
        ):
            raise invalid(message, pointer=pointer)


def _check_properties(properties: dict[str, Any]) -> None:
    if len(properties) > MAX_PROPERTIES:
        raise invalid(
            f"An event can have at most {MAX_PROPERTIES} properties; got {len(properties)}.",
            pointer="/data/attributes/properties",
        )
    check_strings(properties, "/data/attributes/properties", "Event property strings cannot exceed 100KB.")


def _event_time(raw: Any) -> datetime:
    if raw is None:
        return now()
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None:
        raise invalid(f"Invalid date-time {raw!r}.", pointer="/data/attributes/time")
    moment = moment.replace(microsecond=0)
    if moment.year < 1990 or moment > now() + timedelta(days=365):
        raise invalid(
            "Event time must be after 1990 and no more than one year in the future.",
            pointer="/data/attributes/time",
        )
    return moment


def _resolve_profile(store: Store, profile_id: str | None, attrs: dict[str, Any]) -> Profile | None:
    """Find the event's profile (by id, then identifiers, then anonymous_id); None = create one."""
    if profile_id and profile_id in store.profiles:
        return store.profiles[profile_id]
    matched = store.matches(attrs)
    if matched:
        return store.profiles[matched[0]]
    anonymous = attrs.get("anonymous_id")
    if anonymous and anonymous in store.anonymous:
        return store.profiles[store.anonymous[anonymous]]
    return None


async def create_event(request: web.Request) -> web.Response:
    store = context(request).store
    data = resource(await read_json(request, EVENT_MAX_BYTES), "event")
    attributes = _object(data.get("attributes"), "/data/attributes", "attributes")
    properties = _object(attributes.get("properties"), "/data/attributes/properties", "properties")
    _check_properties(properties)

    metric_base = "/data/attributes/metric/data"
    metric_doc = _object(attributes.get("metric"), "/data/attributes/metric", "metric")
    metric_data = resource(metric_doc.get("data"), "metric", pointer=metric_base)
    metric_attrs = _object(metric_data.get("attributes"), f"{metric_base}/attributes", "attributes")
    name = metric_attrs.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("The metric name is required.", pointer=f"{metric_base}/attributes/name")
    service = metric_attrs.get("service")
    if service is not None and not isinstance(service, str):
        raise invalid("'service' must be a string.", pointer=f"{metric_base}/attributes/service")

    profile_base = "/data/attributes/profile/data"
    profile_doc = _object(attributes.get("profile"), "/data/attributes/profile", "profile")
    profile_data = resource(profile_doc.get("data"), "profile", pointer=profile_base)
    attrs = profile_attributes(
        profile_data.get("attributes"), allowed=EVENT_PROFILE_FIELDS, pointer=f"{profile_base}/attributes"
    )
    ops = patch_ops(attrs.pop("meta", None), f"{profile_base}/attributes/meta")
    profile_id = check_profile_identity(store, profile_data.get("id"), attrs, profile_base)

    value = attributes.get("value")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise invalid("'value' must be a number.", pointer="/data/attributes/value")
    for key in ("value_currency", "unique_id"):
        if attributes.get(key) is not None and not isinstance(attributes[key], str):
            raise invalid(f"'{key}' must be a string.", pointer=f"/data/attributes/{key}")
    if attributes.get("backfill") is not None and not isinstance(attributes["backfill"], bool):
        raise invalid("'backfill' must be a boolean.", pointer="/data/attributes/backfill")
    moment = _event_time(attributes.get("time"))

    profile = _resolve_profile(store, profile_id, attrs)
    if profile is None:
        profile = store.create_profile(attrs, ops)
    else:
        for key in IDENTIFIERS:  # identifiers owned by someone else are not moved by an event
            owner = store.owner(key, attrs.get(key))
            if owner is not None and owner != profile.id:
                attrs.pop(key)
        store.update_profile(profile, attrs, ops)
    metric = store.metric_for(name.strip(), service)
    unique_id = attributes.get("unique_id") or str(int(moment.timestamp()))
    store.add_event(
        Event(
            id=store.ids.short(11),
            uuid=store.ids.uuid(),
            metric_id=metric.id,
            profile_id=profile.id,
            time=moment,
            properties=dict(properties),
            value=float(value) if value is not None else None,
            value_currency=attributes.get("value_currency"),
            unique_id=unique_id,
        )
    )
    return accepted()


def _event_getter(event: Event) -> Any:
    def get(name: str) -> Any:
        if name == "metric_id":
            return event.metric_id
        if name == "profile_id":
            return event.profile_id
        if name == "datetime":
            return event.time
        if name == "timestamp":
            return int(event.time.timestamp())
        if name in ("profile", "metric"):
            return True
        return None

    return get


def _included(store: Store, events: list[Event], include: frozenset[str], base: str) -> list[Any]:
    out: list[Any] = []
    if "metric" in include:
        seen: dict[str, Metric] = {e.metric_id: store.metrics[e.metric_id] for e in events}
        out.extend(render.metric_resource(m, base) for m in seen.values())
    if "profile" in include:
        profiles = {
            e.profile_id: store.profiles[e.profile_id] for e in events if e.profile_id in store.profiles
        }
        out.extend(render.profile_resource(p, base) for p in profiles.values())
    return out


async def get_events(request: web.Request) -> web.Response:
    store = context(request).store
    q = request.query
    size = query.page_size(q, default=200, maximum=1000)
    sort, descending = query.parse_sort(q, ("datetime", "timestamp"), "datetime")
    raw_filter = q.get("filter")
    compiled = filters.compile_filter(raw_filter, EVENT_FILTERS, "event") if raw_filter is not None else None
    fields = query.parse_list(q, "fields[event]", EVENT_FIELDS)
    include = frozenset(query.parse_list(q, "include", ("attributions", "metric", "profile")) or ())
    cursor = query.decode_cursor(q, sort)
    with store.lock:
        matching = [e for e in store.events if compiled is None or compiled.predicate(_event_getter(e))]

    def key(event: Event) -> query.SortKey:
        return (*query.sort_value(event.time), event.id)

    page = query.keyset_page(
        matching, key, size=size, descending=descending, after=cursor.key if cursor else None
    )
    base = base_url(request)
    data = [
        render.event_resource(e, base, fields=[f for f in fields if f != "id"] if fields else None)
        for e in page.items
    ]
    doc = render.document(
        data,
        str(request.url),
        next_link=query.next_link(request, sort, page.next_key),
        included=_included(store, page.items, include, base) if include else None,
    )
    return respond(doc)


async def get_event(request: web.Request) -> web.Response:
    store = context(request).store
    event = store.event(request.match_info["id"])
    base = base_url(request)
    return respond(
        {"data": render.event_resource(event, base), "links": {"self": f"{base}/api/events/{event.id}/"}}
    )


def _metric_getter(metric: Metric) -> Any:
    def get(name: str) -> Any:
        if name == "integration.name":
            return "API"
        if name == "integration.category":
            return "API"
        return None

    return get


async def get_metrics(request: web.Request) -> web.Response:
    store = context(request).store
    q = request.query
    raw_filter = q.get("filter")
    compiled = (
        filters.compile_filter(raw_filter, METRIC_FILTERS, "metric") if raw_filter is not None else None
    )
    cursor = query.decode_cursor(q, "id")
    with store.lock:
        matching = [
            m for m in store.metrics.values() if compiled is None or compiled.predicate(_metric_getter(m))
        ]

    def key(metric: Metric) -> query.SortKey:
        return (*query.sort_value(metric.created), metric.id)

    page = query.keyset_page(matching, key, size=200, descending=False, after=cursor.key if cursor else None)
    base = base_url(request)
    doc = render.document(
        [render.metric_resource(m, base) for m in page.items],
        str(request.url),
        next_link=query.next_link(request, "id", page.next_key),
    )
    return respond(doc)


async def get_metric(request: web.Request) -> web.Response:
    store = context(request).store
    metric = store.metric(request.match_info["id"])
    base = base_url(request)
    return respond(
        {"data": render.metric_resource(metric, base), "links": {"self": f"{base}/api/metrics/{metric.id}/"}}
    )
