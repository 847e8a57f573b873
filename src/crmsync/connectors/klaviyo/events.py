"""Events: ``Projection(kind="event")`` → Klaviyo events (``POST /api/events``, operation create_event).

Payload contract with the engine (one order becomes one ``Placed Order`` event)::

    {"metric": "Placed Order", "time": "2026-11-23T10:00:00Z", "unique_id": "<record_key>",
     "value": 123.45 | None, "value_currency": "EUR" | None, "properties": {...},
     "profile": {"external_id"?: str, "email"?: str, "phone_number"?: str}}

The request body is the spec's ``EventCreateQueryV2`` (revision 2026-07-15): the metric by name
(``metric.data.attributes.name``), the profile by its identifiers (``profile.data.attributes``), and
``time``, ``value``, ``value_currency``, ``unique_id``, ``properties`` (required, possibly ``{}``);
``None`` values are omitted rather than sent as ``null``.

Delivery is idempotent by Klaviyo's own rule (spec, ``unique_id``): "If the unique_id is repeated for
the same profile and metric, only the first processed event will be recorded", so re-sending an event
adds nothing. A missing ``unique_id`` falls back to the record key, never to Klaviyo's default (the
time to the second), which would make a replay a second event if the time changed. Klaviyo answers
202 with no body (accepted, processed later) and reports no event id: ``target_id`` stays ``None``.
"""

from __future__ import annotations

from typing import Any

from crmsync.connectors.klaviyo.batching import error_pointer, failed, invalid, resource_field, retag
from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.errors import CrmsyncError, RecordValidationError
from crmsync.ports import JSON, DeliveryResult, Projection

EVENT_KIND = "event"
EVENTS_PATH = "/api/events"
#: Profile identifiers an event may carry, in the order the profile key lists them.
PROFILE_IDENTIFIERS = ("external_id", "email", "phone_number")
#: "Name of the event. Must be less than 128 characters." (MetricCreateQueryResourceObject)
MAX_METRIC_NAME = 127
_OPTIONAL = ("time", "value", "value_currency")

ProfileKey = tuple[tuple[str, str], ...]


def event_profile(item: Projection) -> dict[str, str]:
    """The event's profile identifiers: ``payload["profile"]``, else ``item.identifiers``."""
    source = item.payload.get("profile")
    if not isinstance(source, dict) or not any(source.get(k) for k in PROFILE_IDENTIFIERS):
        source = item.identifiers
    return {k: v for k in PROFILE_IDENTIFIERS if isinstance(v := source.get(k), str) and v}


def profile_key(profile: dict[str, str]) -> ProfileKey:
    """Events with equal keys belong to the same profile (e-mail addresses compare case-insensitively)."""
    return tuple(
        (k, profile[k].casefold() if k == "email" else profile[k])
        for k in PROFILE_IDENTIFIERS
        if k in profile
    )


def metric_name(item: Projection) -> str:
    name = item.payload.get("metric")
    return name.strip() if isinstance(name, str) else ""


def unique_id(item: Projection) -> str:
    value = item.payload.get("unique_id")
    return value if isinstance(value, str) and value else item.record_key


def event_attributes(item: Projection) -> JSON:
    """The event's own attributes (everything but the profile), ``None`` values omitted."""
    properties = item.payload.get("properties")
    attributes: dict[str, Any] = {"properties": properties if isinstance(properties, dict) else {}}
    for name in _OPTIONAL:
        if item.payload.get(name) is not None:
            attributes[name] = item.payload[name]
    attributes["unique_id"] = unique_id(item)
    attributes["metric"] = {"data": {"type": "metric", "attributes": {"name": metric_name(item)}}}
    return attributes


def profile_resource(profile: dict[str, str]) -> JSON:
    return {"type": "profile", "attributes": dict(profile)}


def event_resource(item: Projection) -> JSON:
    """The ``EventCreateQueryV2`` resource object for ``POST /api/events``."""
    attributes = event_attributes(item)
    attributes["profile"] = {"data": profile_resource(event_profile(item))}
    return {"type": "event", "attributes": attributes}


def bulk_event_resource(item: Projection) -> JSON:
    """One ``BaseEventCreateQueryBulkEntryResourceObject`` (the profile is named by its entry)."""
    return {"type": "event", "attributes": event_attributes(item)}


def check_event(item: Projection, connection: str) -> DeliveryResult | None:
    """Refuse locally what Klaviyo would refuse for sure: no metric name, no profile identifier."""
    name = metric_name(item)
    if not name:
        return invalid(
            item, "klaviyo event: the metric name is required", field="metric", connection=connection
        )
    if len(name) > MAX_METRIC_NAME:
        return invalid(
            item,
            f"klaviyo event: the metric name must be less than 128 characters (got {len(name)})",
            field="metric",
            connection=connection,
        )
    if not event_profile(item):
        return invalid(
            item,
            "klaviyo event: the profile needs at least one of external_id, email, phone_number",
            field="profile",
            connection=connection,
        )
    return None


def event_field(pointer: str | None) -> str | None:
    """The payload field a create_event pointer names: ``/data/attributes/time`` → ``"time"``,
    ``/data/attributes/profile/data/attributes/email`` → ``"profile.email"``."""
    return resource_field(pointer)


class EventSender:
    """Sends one event through ``POST /api/events``; never raises a CrmsyncError."""

    def __init__(self, client: KlaviyoClient, *, connection: str) -> None:
        self._client = client
        self._connection = connection

    async def upsert(self, item: Projection) -> DeliveryResult:
        refused = check_event(item, self._connection)
        if refused is not None:
            return refused
        stats = CallStats()
        try:
            await self._client.request(
                "POST",
                EVENTS_PATH,
                body={"data": event_resource(item)},
                operation="create_event",
                record_key=item.record_key,
                kind=item.kind,
                correlation_id=item.correlation_id,
                stats=stats,
            )
        except RecordValidationError as exc:
            fld = event_field(error_pointer(exc)) or exc.field
            label = f" field {fld!r}" if fld else ""
            rejected = invalid(
                item,
                f"klaviyo create_event: invalid{label}: {exc.message}",
                field=fld,
                connection=self._connection,
                detail=exc.detail,
            )
            if rejected.error is not None:
                rejected.error.status = exc.status
            return DeliveryResult(item.record_key, ok=False, error=rejected.error, calls=stats.attempts)
        except CrmsyncError as exc:
            return failed(item, retag(exc, item.kind), stats.attempts)
        # 202 Accepted: validated and queued. Klaviyo returns no body and no event id.
        return DeliveryResult(item.record_key, ok=True, created=True, calls=stats.attempts)
