"""JSON:API serialisation of the emulator's resources, shaped like the spec's response schemas.

Resource and relationship links carry the emulator's own origin (``http://127.0.0.1:<port>``) so a
client can follow them verbatim; paths end in ``/`` like Klaviyo's (``.../api/profiles/01.../``).
"""

from __future__ import annotations

from typing import Any

from crmsync.emulators.klaviyo.ids import iso
from crmsync.emulators.klaviyo.store import Event, KList, Metric, Profile
from crmsync.emulators.klaviyo.subscriptions import render_subscriptions
from crmsync.emulators.klaviyo.validation import LOCATION_FIELDS, STRING_FIELDS

PROFILE_RELATIONSHIPS = ("lists", "segments", "push-tokens")


def rel_links(base: str, kind: str, rid: str, name: str) -> dict[str, str]:
    return {
        "self": f"{base}/api/{kind}/{rid}/relationships/{name}/",
        "related": f"{base}/api/{kind}/{rid}/{name}/",
    }


_PREDICTIVE = (
    "historic_clv",
    "predicted_clv",
    "total_clv",
    "historic_number_of_orders",
    "predicted_number_of_orders",
    "average_days_between_orders",
    "average_order_value",
    "churn_probability",
    "expected_date_of_next_order",
    "ranked_channel_affinity",
)


def project(attributes: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Apply a sparse fieldset (``email``, ``location.city`` ...) to an attribute dict."""
    out: dict[str, Any] = {}
    for path in fields:
        parts = path.split(".")
        src: Any = attributes
        for part in parts:
            if not isinstance(src, dict) or part not in src:
                src = _MISSING
                break
            src = src[part]
        if src is _MISSING:
            continue
        dst = out
        for part in parts[:-1]:
            dst = dst.setdefault(part, {})
        dst[parts[-1]] = src
    return out


_MISSING = object()


def subscriptions(profile: Profile) -> dict[str, Any]:
    """The profile's ``subscriptions`` attribute (consent and suppressions, subscriptions.py)."""
    return render_subscriptions(
        profile.consent,
        email=profile.attributes.get("email"),
        phone_number=profile.attributes.get("phone_number"),
    )


def profile_attributes(profile: Profile, additional: frozenset[str] = frozenset()) -> dict[str, Any]:
    attrs: dict[str, Any] = {name: profile.attributes.get(name) for name in STRING_FIELDS}
    attrs["created"] = iso(profile.created)
    attrs["updated"] = iso(profile.updated)
    attrs["last_event_date"] = iso(profile.last_event_date)
    location = {name: profile.location.get(name) for name in LOCATION_FIELDS}
    for name in ("latitude", "longitude"):
        # The spec types these as nullable oneOf[string, number]; under OpenAPI 3.0 ``nullable``
        # without ``type`` admits no null, so unset coordinates are omitted to stay schema-valid.
        if location[name] is None:
            del location[name]
    attrs["location"] = location
    attrs["properties"] = dict(profile.properties)
    if "subscriptions" in additional:
        attrs["subscriptions"] = subscriptions(profile)
    if "predictive_analytics" in additional:
        attrs["predictive_analytics"] = dict.fromkeys(_PREDICTIVE)
    return attrs


def profile_resource(
    profile: Profile,
    base: str,
    *,
    fields: list[str] | None = None,
    additional: frozenset[str] = frozenset(),
    relationships: tuple[str, ...] = PROFILE_RELATIONSHIPS,
    include: frozenset[str] = frozenset(),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    attrs = profile_attributes(profile, additional)
    if extra:
        attrs.update(extra)
    if fields is not None:
        attrs = project(attrs, fields)
    rels: dict[str, Any] = {}
    for name in relationships:
        rel: dict[str, Any] = {"links": rel_links(base, "profiles", profile.id, name)}
        if name in include:
            if name == "lists":
                rel["data"] = [{"type": "list", "id": lid} for lid in profile.lists]
            else:
                rel["data"] = []
        rels[name] = rel
    return {
        "type": "profile",
        "id": profile.id,
        "attributes": attrs,
        "relationships": rels,
        "links": {"self": f"{base}/api/profiles/{profile.id}/"},
    }


def list_resource(klist: KList, base: str, *, profile_count: bool = False) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "name": klist.name,
        "created": iso(klist.created),
        "updated": iso(klist.updated),
        "opt_in_process": klist.opt_in_process,
    }
    if profile_count:
        attrs["profile_count"] = len(klist.members)
    return {
        "type": "list",
        "id": klist.id,
        "attributes": attrs,
        "relationships": {
            name: {"links": rel_links(base, "lists", klist.id, name)}
            for name in ("profiles", "tags", "flow-triggers")
        },
        "links": {"self": f"{base}/api/lists/{klist.id}/"},
    }


def metric_resource(metric: Metric, base: str) -> dict[str, Any]:
    service = metric.service or "api"
    return {
        "type": "metric",
        "id": metric.id,
        "attributes": {
            "name": metric.name,
            "created": iso(metric.created),
            "updated": iso(metric.updated),
            "integration": {
                "object": "integration",
                "id": service,
                "key": service,
                "name": "API",
                "category": "API",
            },
        },
        "relationships": {"flow-triggers": {"links": rel_links(base, "metrics", metric.id, "flow-triggers")}},
        "links": {"self": f"{base}/api/metrics/{metric.id}/"},
    }


def event_resource(event: Event, base: str, *, fields: list[str] | None = None) -> dict[str, Any]:
    properties = dict(event.properties)
    if event.value is not None:
        properties["$value"] = event.value
    attrs: dict[str, Any] = {
        "timestamp": int(event.time.timestamp()),
        "event_properties": properties,
        "datetime": iso(event.time),
        "uuid": event.uuid,
    }
    if fields is not None:
        attrs = project(attrs, fields)
    return {
        "type": "event",
        "id": event.id,
        "attributes": attrs,
        "relationships": {
            "profile": {
                "data": {"type": "profile", "id": event.profile_id},
                "links": rel_links(base, "events", event.id, "profile"),
            },
            "metric": {
                "data": {"type": "metric", "id": event.metric_id},
                "links": rel_links(base, "events", event.id, "metric"),
            },
        },
        "links": {"self": f"{base}/api/events/{event.id}/"},
    }


def document(
    data: Any, self_link: str, *, next_link: str | None = None, included: list[Any] | None = None
) -> dict[str, Any]:
    links: dict[str, str] = {"self": self_link}
    if next_link is not None:
        links["next"] = next_link
    doc: dict[str, Any] = {"data": data, "links": links}
    if included is not None:
        doc["included"] = included
    return doc
