"""Consent changes → the request bodies of Klaviyo's bulk (un)subscribe and (un)suppress jobs.

Shapes from the spec (revision 2026-07-15): ``SubscriptionCreateJobCreateQuery`` (bulk_subscribe_profiles),
``SubscriptionDeleteJobCreateQuery`` (bulk_unsubscribe_profiles), ``SuppressionCreateJobCreateQuery``
and ``SuppressionDeleteJobCreateQuery``. Each profile entry names the person by ``email`` and/or
``phone_number`` and carries only the channels that change::

    {"type": "profile", "attributes": {"email": "a@b.com",
        "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED", "consented_at"?: "..."}},
                          "sms": {"marketing": {...}, "transactional": {...}}}}}

``consented_at`` is sent only with ``historical_import: true`` (backfills): the spec says "if the
``historical_import`` flag is not included, providing any value for this field will raise an error",
and "If ``historical_import`` is set to true, the ``consented_at`` field is required and must be in
the past". :func:`check_change` refuses locally what Klaviyo would refuse for sure.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmsync.errors import RecordValidationError
from crmsync.ports import JSON

EMAIL_MARKETING = "email_marketing"
SMS_MARKETING = "sms_marketing"
SMS_TRANSACTIONAL = "sms_transactional"
CHANNELS = frozenset({EMAIL_MARKETING, SMS_MARKETING, SMS_TRANSACTIONAL})
#: channel -> (Klaviyo channel, sub-channel) in ``subscriptions``
WIRE_CHANNELS: dict[str, tuple[str, str]] = {
    EMAIL_MARKETING: ("email", "marketing"),
    SMS_MARKETING: ("sms", "marketing"),
    SMS_TRANSACTIONAL: ("sms", "transactional"),
}

SUBSCRIBE_JOB = "profile-subscription-bulk-create-job"
UNSUBSCRIBE_JOB = "profile-subscription-bulk-delete-job"
SUPPRESS_JOB = "profile-suppression-bulk-create-job"
UNSUPPRESS_JOB = "profile-suppression-bulk-delete-job"


@dataclass(frozen=True)
class ConsentChange:
    """One person's consent change, keyed by the source record it came from.

    ``channels`` are ``email_marketing``, ``sms_marketing``, ``sms_transactional``
    (:class:`crmsync.model.common.ConsentChannel` values); ``consented_at`` is when consent was given
    (sent only for historical backfills). Suppressions use ``email`` only.
    """

    record_key: str
    email: str | None = None
    phone_number: str | None = None
    channels: Set[str] = field(default_factory=lambda: frozenset({EMAIL_MARKETING}))
    consented_at: datetime | None = None
    correlation_id: str | None = None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _refuse(item: ConsentChange, message: str, field_name: str, connection: str) -> RecordValidationError:
    return RecordValidationError(
        f"klaviyo consent: {message}",
        field=field_name,
        connection=connection,
        entity="consent",
        record_key=item.record_key,
        correlation_id=item.correlation_id,
    )


def check_change(
    item: ConsentChange, *, connection: str, historical: bool = False, subscribe: bool = True
) -> RecordValidationError | None:
    """What Klaviyo would refuse for sure: unknown channels, a channel without its identifier, a
    historical subscription without a past ``consented_at``."""
    unknown = sorted(set(item.channels) - CHANNELS)
    if unknown or not item.channels:
        what = f"unknown channel(s) {', '.join(unknown)}" if unknown else "no channel"
        return _refuse(item, f"{what}; expected {', '.join(sorted(CHANNELS))}", "channels", connection)
    if EMAIL_MARKETING in item.channels and not item.email:
        return _refuse(item, "email marketing consent needs an email address", "email", connection)
    if set(item.channels) & {SMS_MARKETING, SMS_TRANSACTIONAL} and not item.phone_number:
        return _refuse(item, "SMS consent needs a phone number", "phone_number", connection)
    if subscribe and historical:
        if item.consented_at is None:
            return _refuse(item, "a historical import needs consented_at", "consented_at", connection)
        if _utc(item.consented_at) > datetime.now(UTC):
            return _refuse(item, "consented_at must be in the past", "consented_at", connection)
    return None


def check_email_only(item: ConsentChange, *, connection: str) -> RecordValidationError | None:
    if not item.email:
        return _refuse(item, "a suppression needs an email address", "email", connection)
    return None


def consent_entry(item: ConsentChange, *, subscribe: bool, historical: bool = False) -> JSON:
    """One ``ProfileSubscription{Create,Delete}QueryResourceObject``."""
    subscriptions: dict[str, dict[str, Any]] = {}
    for channel in sorted(item.channels):
        wire, sub = WIRE_CHANNELS[channel]
        leaf: dict[str, Any] = {"consent": "SUBSCRIBED" if subscribe else "UNSUBSCRIBED"}
        if subscribe and historical and item.consented_at is not None:
            leaf["consented_at"] = _utc(item.consented_at).isoformat()
        subscriptions.setdefault(wire, {})[sub] = leaf
    attributes: dict[str, Any] = {}
    if item.email:
        attributes["email"] = item.email
    if item.phone_number:
        attributes["phone_number"] = item.phone_number
    attributes["subscriptions"] = subscriptions
    return {"type": "profile", "attributes": attributes}


def consent_job(
    entries: list[JSON],
    *,
    subscribe: bool,
    list_id: str | None,
    historical: bool = False,
    custom_source: str | None = None,
) -> JSON:
    """The whole bulk subscribe / unsubscribe request body."""
    attributes: dict[str, Any] = {}
    if subscribe and custom_source:
        attributes["custom_source"] = custom_source
    attributes["profiles"] = {"data": entries}
    if subscribe and historical:
        attributes["historical_import"] = True
    data: dict[str, Any] = {"type": SUBSCRIBE_JOB if subscribe else UNSUBSCRIBE_JOB, "attributes": attributes}
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def suppression_job(emails: list[str], *, suppress: bool) -> JSON:
    """The bulk suppress / unsuppress request body for ``emails``."""
    profiles = [{"type": "profile", "attributes": {"email": email}} for email in emails]
    kind = SUPPRESS_JOB if suppress else UNSUPPRESS_JOB
    return {"data": {"type": kind, "attributes": {"profiles": {"data": profiles}}}}
