"""Request-body validation for the consent endpoints: bulk subscribe / unsubscribe / suppress.

Shapes from the spec (revision 2026-07-15): ``SubscriptionCreateJobCreateQuery``,
``SubscriptionDeleteJobCreateQuery``, ``SuppressionCreateJobCreateQuery`` and
``SuppressionDeleteJobCreateQuery``. Everything is checked before the 202, and every 400 names the
offending member with ``source.pointer`` (``/data/attributes/profiles/data/3/attributes/email``).
Members the spec does not declare are refused too, so a misspelt channel (``sms_marketing``) is a
400 rather than a silent no-op.

Rules reproduced from the operation descriptions:

* "Maximum number of profiles can be submitted for subscription: 1000"; unsubscribe "Maximum number
  of profiles per call: 100"; suppress / unsuppress "Email address per request limit: 100";
* "Either email or phone number is required" (a subscribe entry may instead name a profile ``id``);
  subscribing a channel needs the matching identifier (email for email, phone for SMS);
* ``consented_at`` — "if the ``historical_import`` flag is not included, providing any value for this
  field will raise an error"; "If ``historical_import`` is set to true, the ``consented_at`` field is
  required and must be in the past" (the real error reads "Historical email subscription does not
  have a valid consented at timestamp").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmsync.emulators.klaviyo.errors import invalid
from crmsync.emulators.klaviyo.ids import now, parse_datetime
from crmsync.emulators.klaviyo.store import Store
from crmsync.emulators.klaviyo.subscriptions import EMAIL_MARKETING, SMS_MARKETING, SMS_TRANSACTIONAL
from crmsync.emulators.klaviyo.validation import check_email, check_phone

MAX_SUBSCRIBE = 1000
MAX_UNSUBSCRIBE = 100
MAX_SUPPRESS = 100
#: (channel, sub-channel) -> modelled consent channel; the others are accepted and not modelled.
MODELLED = {
    ("email", "marketing"): EMAIL_MARKETING,
    ("sms", "marketing"): SMS_MARKETING,
    ("sms", "transactional"): SMS_TRANSACTIONAL,
}
#: Sub-channels per channel; subscribe and unsubscribe differ only in whatsapp "conversational".
_SUBSCRIBE_CHANNELS = {
    "email": ("marketing", "open_tracking"),
    "sms": ("marketing", "transactional"),
    "whatsapp": ("marketing", "transactional"),
    "push": ("marketing", "tokens", "anonymous_id"),
}
_UNSUBSCRIBE_CHANNELS = {
    **_SUBSCRIBE_CHANNELS,
    "whatsapp": ("marketing", "transactional", "conversational"),
    "push": ("marketing", "tokens"),
}
_NOT_CONSENT = ("tokens", "anonymous_id")  # push members that are not consent objects


@dataclass(slots=True)
class ChannelChange:
    channel: str  # EMAIL_MARKETING | SMS_MARKETING | SMS_TRANSACTIONAL
    consented_at: datetime | None = None


@dataclass(slots=True)
class ProfileChange:
    """One entry of a subscribe / unsubscribe request, validated."""

    index: int
    profile_id: str | None
    email: str | None
    phone_number: str | None
    channels: list[ChannelChange] = field(default_factory=list)


@dataclass(slots=True)
class ConsentRequest:
    profiles: list[ProfileChange]
    list_id: str | None
    historical: bool = False
    custom_source: str | None = None


def _object(value: Any, pointer: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"'{what}' must be an object.", pointer=pointer)
    return value


def _only(value: dict[str, Any], allowed: tuple[str, ...], pointer: str, resource: str) -> None:
    for key in value:
        if key not in allowed:
            raise invalid(f"'{key}' is not a valid field for '{resource}'.", pointer=f"{pointer}/{key}")


def _string(value: Any, pointer: str, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a string.", pointer=pointer)
    return value


def members(attributes: dict[str, Any], limit: int, noun: str = "profiles") -> list[Any]:
    """``attributes.profiles.data``: a non-empty array of at most ``limit`` entries."""
    pointer = "/data/attributes/profiles"
    container = attributes.get("profiles")
    if not isinstance(container, dict) or not isinstance(container.get("data"), list):
        raise invalid("'profiles' must be an object with a 'data' array.", pointer=pointer)
    items: list[Any] = container["data"]
    if not items:
        raise invalid(
            f"At least one entry is required in 'profiles.data' ({noun}).", pointer=f"{pointer}/data"
        )
    if len(items) > limit:
        raise invalid(
            f"At most {limit} {noun} can be submitted per request; got {len(items)}.",
            pointer=f"{pointer}/data",
        )
    return items


def related(data: dict[str, Any], name: str, kind: str) -> str | None:
    """The id of a to-one relationship ``relationships.<name>.data = {type: <kind>, id}``."""
    relationships = data.get("relationships")
    if relationships is None:
        return None
    relationships = _object(relationships, "/data/relationships", "relationships")
    if relationships.get(name) is None:
        return None
    rel = _object(relationships[name], f"/data/relationships/{name}", name)
    target = rel.get("data")
    pointer = f"/data/relationships/{name}/data"
    if not isinstance(target, dict) or target.get("type") != kind or not isinstance(target.get("id"), str):
        raise invalid(f"'{name}' must be {{'data': {{'type': '{kind}', 'id': ...}}}}.", pointer=pointer)
    return str(target["id"])


def _consented_at(leaf: dict[str, Any], pointer: str, label: str, historical: bool) -> datetime | None:
    raw = leaf.get("consented_at")
    where = f"{pointer}/consented_at"
    if not historical:
        if raw is not None:
            raise invalid("'consented_at' is only allowed when 'historical_import' is true.", pointer=where)
        return None
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None or moment > now():
        raise invalid(
            f"Historical {label} subscription does not have a valid consented at timestamp "
            "(required with historical_import, and it must be in the past).",
            pointer=where,
        )
    return moment


def _channels(subscriptions: Any, pointer: str, *, subscribe: bool, historical: bool) -> list[ChannelChange]:
    expected = "SUBSCRIBED" if subscribe else "UNSUBSCRIBED"
    tree = _SUBSCRIBE_CHANNELS if subscribe else _UNSUBSCRIBE_CHANNELS
    subscriptions = _object(subscriptions, pointer, "subscriptions")
    _only(subscriptions, tuple(tree), pointer, "subscriptions")
    if not subscriptions:
        raise invalid("At least one subscription channel is required.", pointer=pointer)
    out: list[ChannelChange] = []
    for channel, body in subscriptions.items():
        where = f"{pointer}/{channel}"
        body = _object(body, where, channel)
        _only(body, tree[channel], where, channel)
        if channel == "push" and "marketing" not in body:
            raise invalid("'marketing' is required for push.", pointer=f"{where}/marketing")
        if channel == "push" and not subscribe and "tokens" not in body:
            raise invalid("'tokens' is required for push.", pointer=f"{where}/tokens")
        for sub, leaf in body.items():
            if sub in _NOT_CONSENT:
                continue
            leaf_at = f"{where}/{sub}"
            leaf = _object(leaf, leaf_at, sub)
            _only(leaf, ("consent", "consented_at") if subscribe else ("consent",), leaf_at, sub)
            if leaf.get("consent") != expected:
                raise invalid(f"'consent' must be {expected!r}.", pointer=f"{leaf_at}/consent")
            at = _consented_at(leaf, leaf_at, channel, historical) if subscribe else None
            modelled = MODELLED.get((channel, sub))
            if modelled is not None:
                out.append(ChannelChange(modelled, at))
    return out


def _identifier_for(change: ProfileChange, store: Store, name: str, pointer: str, channel_label: str) -> None:
    """A subscribed channel needs its identifier: in the entry, or on the profile named by id."""
    if getattr(change, name):
        return
    if change.profile_id is not None:
        profile = store.profiles.get(change.profile_id)
        if profile is not None and profile.attributes.get(name):
            return
    raise invalid(f"'{name}' is required to change {channel_label} consent.", pointer=f"{pointer}/{name}")


def consent_request(
    data: dict[str, Any], store: Store, *, subscribe: bool, historical: bool
) -> tuple[list[ProfileChange], str | None]:
    """Validate ``profiles`` and the ``list`` relationship of a subscribe / unsubscribe job."""
    attributes = _object(data.get("attributes"), "/data/attributes", "attributes")
    items = members(attributes, MAX_SUBSCRIBE if subscribe else MAX_UNSUBSCRIBE)
    allowed = ("email", "phone_number", "subscriptions") + (("age_gated_date_of_birth",) if subscribe else ())
    changes: list[ProfileChange] = []
    for index, item in enumerate(items):
        pointer = f"/data/attributes/profiles/data/{index}"
        item = _object(item, pointer, "profile")
        if item.get("type") != "profile":
            raise invalid("Each profile must have type 'profile'.", pointer=f"{pointer}/type")
        profile_id = _string(item.get("id"), f"{pointer}/id", "id") if subscribe else None
        at = f"{pointer}/attributes"
        attrs = _object(item.get("attributes"), at, "attributes")
        _only(attrs, allowed, at, "profile")
        email = _string(attrs.get("email"), f"{at}/email", "email")
        phone = _string(attrs.get("phone_number"), f"{at}/phone_number", "phone_number")
        email = check_email(email.strip(), f"{at}/email") if email else None
        phone = check_phone(phone.strip(), f"{at}/phone_number") if phone else None
        if not (email or phone or profile_id):
            raise invalid("Either email or phone number is required.", pointer=at)
        if "subscriptions" not in attrs:
            raise invalid("'subscriptions' is required.", pointer=f"{at}/subscriptions")
        channels = _channels(
            attrs["subscriptions"], f"{at}/subscriptions", subscribe=subscribe, historical=historical
        )
        if profile_id is not None and profile_id not in store.profiles:
            raise invalid(f"A profile with id {profile_id} does not exist.", pointer=f"{pointer}/id")
        change = ProfileChange(index, profile_id, email, phone, channels)
        for channel in channels:
            if channel.channel == EMAIL_MARKETING:
                _identifier_for(change, store, "email", at, "email")
            else:
                _identifier_for(change, store, "phone_number", at, "SMS")
        changes.append(change)
    list_id = related(data, "list", "list")
    if list_id is not None:
        store.klist(list_id)  # 404 for an unknown list
    return changes, list_id


def subscribe_request(data: dict[str, Any], store: Store) -> ConsentRequest:
    attributes = _object(data.get("attributes"), "/data/attributes", "attributes")
    _only(attributes, ("custom_source", "profiles", "historical_import"), "/data/attributes", "job")
    historical = attributes.get("historical_import")
    if historical is not None and not isinstance(historical, bool):
        raise invalid("'historical_import' must be a boolean.", pointer="/data/attributes/historical_import")
    custom = _string(attributes.get("custom_source"), "/data/attributes/custom_source", "custom_source")
    changes, list_id = consent_request(data, store, subscribe=True, historical=bool(historical))
    return ConsentRequest(changes, list_id, bool(historical), custom or None)


def unsubscribe_request(data: dict[str, Any], store: Store) -> ConsentRequest:
    attributes = _object(data.get("attributes"), "/data/attributes", "attributes")
    _only(attributes, ("profiles",), "/data/attributes", "job")
    changes, list_id = consent_request(data, store, subscribe=False, historical=False)
    return ConsentRequest(changes, list_id)


@dataclass(slots=True)
class SuppressionRequest:
    emails: list[str]
    list_id: str | None
    segment_id: str | None


def suppression_request(data: dict[str, Any]) -> SuppressionRequest:
    """``profiles`` (emails) or a ``list`` or a ``segment`` relationship — exactly one of them."""
    attributes = _object(data.get("attributes"), "/data/attributes", "attributes")
    _only(attributes, ("profiles",), "/data/attributes", "job")
    emails: list[str] = []
    if attributes.get("profiles") is not None:
        for index, item in enumerate(members(attributes, MAX_SUPPRESS, "email addresses")):
            pointer = f"/data/attributes/profiles/data/{index}"
            item = _object(item, pointer, "profile")
            if item.get("type") != "profile":
                raise invalid("Each profile must have type 'profile'.", pointer=f"{pointer}/type")
            attrs = _object(item.get("attributes"), f"{pointer}/attributes", "attributes")
            _only(attrs, ("email",), f"{pointer}/attributes", "profile")
            email = attrs.get("email")
            if not isinstance(email, str) or not email.strip():
                raise invalid("'email' is required.", pointer=f"{pointer}/attributes/email")
            emails.append(check_email(email.strip(), f"{pointer}/attributes/email"))
    list_id = related(data, "list", "list")
    segment_id = related(data, "segment", "segment")
    sources = sum(1 for source in (emails, list_id, segment_id) if source)
    if sources != 1:
        raise invalid(
            "Provide exactly one of 'profiles', a 'list' relationship or a 'segment' relationship.",
            pointer="/data",
        )
    return SuppressionRequest(emails, list_id, segment_id)
