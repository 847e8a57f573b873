"""Body builders for the consent, suppression and data-privacy tests (spec revision 2026-07-15)."""

from __future__ import annotations

from typing import Any

SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = "/api/profile-subscription-bulk-delete-jobs"
SUPPRESS = "/api/profile-suppression-bulk-create-jobs"
UNSUPPRESS = "/api/profile-suppression-bulk-delete-jobs"
DELETION = "/api/data-privacy-deletion-jobs"
ENTRY = "/data/attributes/profiles/data"
WIRE = {
    "email_marketing": ("email", "marketing"),
    "sms_marketing": ("sms", "marketing"),
    "sms_transactional": ("sms", "transactional"),
}


def entry(
    *,
    email: str | None = None,
    phone_number: str | None = None,
    channels: tuple[str, ...] = ("email_marketing",),
    consent: str = "SUBSCRIBED",
    consented_at: str | None = None,
    profile_id: str | None = None,
) -> dict[str, Any]:
    subscriptions: dict[str, dict[str, Any]] = {}
    for channel in channels:
        wire, sub = WIRE[channel]
        leaf: dict[str, Any] = {"consent": consent}
        if consented_at is not None:
            leaf["consented_at"] = consented_at
        subscriptions.setdefault(wire, {})[sub] = leaf
    attributes: dict[str, Any] = {"subscriptions": subscriptions}
    if email is not None:
        attributes["email"] = email
    if phone_number is not None:
        attributes["phone_number"] = phone_number
    item: dict[str, Any] = {"type": "profile", "attributes": attributes}
    if profile_id is not None:
        item["id"] = profile_id
    return item


def subscribe_doc(
    entries: list[dict[str, Any]],
    *,
    list_id: str | None = None,
    historical: Any = None,
    custom_source: str | None = None,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {"profiles": {"data": entries}}
    if historical is not None:
        attributes["historical_import"] = historical
    if custom_source is not None:
        attributes["custom_source"] = custom_source
    data: dict[str, Any] = {"type": "profile-subscription-bulk-create-job", "attributes": attributes}
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def unsubscribe_doc(entries: list[dict[str, Any]], *, list_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "profile-subscription-bulk-delete-job",
        "attributes": {"profiles": {"data": entries}},
    }
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def suppression_doc(
    emails: list[str] | None, *, suppress: bool = True, list_id: str | None = None
) -> dict[str, Any]:
    kind = "profile-suppression-bulk-create-job" if suppress else "profile-suppression-bulk-delete-job"
    attributes: dict[str, Any] = {}
    if emails is not None:
        attributes["profiles"] = {"data": [{"type": "profile", "attributes": {"email": e}} for e in emails]}
    data: dict[str, Any] = {"type": kind, "attributes": attributes}
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def deletion_doc(
    *, email: str | None = None, phone_number: str | None = None, profile_id: str | None = None
) -> dict[str, Any]:
    profile: dict[str, Any] = {"type": "profile", "attributes": {}}
    if profile_id is not None:
        profile["id"] = profile_id
    if email is not None:
        profile["attributes"]["email"] = email
    if phone_number is not None:
        profile["attributes"]["phone_number"] = phone_number
    return {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": profile}}}}


def list_doc(name: str, opt_in_process: str = "single_opt_in") -> dict[str, Any]:
    return {"data": {"type": "list", "attributes": {"name": name, "opt_in_process": opt_in_process}}}
