"""``POST /api/data-privacy-deletion-jobs`` (request_profile_deletion): 202, deletion applied later.

Body (spec ``DataPrivacyCreateDeletionJobQuery``)::

    {"data": {"type": "data-privacy-deletion-job",
              "attributes": {"profile": {"data": {"type": "profile", "id"?: "01...",
                                                  "attributes": {"email"?: "...", "phone_number"?: "..."}}}}}}

Exactly one identifier: "If multiple identifiers are provided, we will return an error" — none is
an error too (400, pointer ``/data/attributes/profile/data``). The answer is 202 with an empty body
(the spec declares no content and no GET for the job); the deletion (:mod:`.privacy`) happens after
the emulator's ``processing_lag_seconds``. Every request is kept in ``emulator.deletion_requests``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crmsync.emulators.klaviyo.context import KB, accepted, context, read_json
from crmsync.emulators.klaviyo.errors import invalid
from crmsync.emulators.klaviyo.ids import now
from crmsync.emulators.klaviyo.privacy import DeletionRequest, erase
from crmsync.emulators.klaviyo.validation import check_email, check_phone, resource

JOB_TYPE = "data-privacy-deletion-job"
MAX_REQUEST_BYTES = 100 * KB
_PROFILE = "/data/attributes/profile/data"


def _object(value: Any, pointer: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"'{what}' must be an object.", pointer=pointer)
    return value


def identifier(data: dict[str, Any]) -> tuple[str, str]:
    """The one ``(kind, value)`` the request names: id, email or phone_number."""
    attributes = _object(data.get("attributes"), "/data/attributes", "attributes")
    for key in attributes:
        if key != "profile":
            raise invalid(f"'{key}' is not a valid field.", pointer=f"/data/attributes/{key}")
    profile = _object(attributes.get("profile"), "/data/attributes/profile", "profile")
    target = _object(profile.get("data"), _PROFILE, "data")
    if target.get("type") != "profile":
        raise invalid("The profile must have type 'profile'.", pointer=f"{_PROFILE}/type")
    attrs = _object(target.get("attributes"), f"{_PROFILE}/attributes", "attributes")
    for key in attrs:
        if key not in ("email", "phone_number"):
            raise invalid(f"'{key}' is not a valid identifier.", pointer=f"{_PROFILE}/attributes/{key}")
    given: list[tuple[str, Any, str]] = [
        (name, value, where)
        for name, value, where in (
            ("id", target.get("id"), f"{_PROFILE}/id"),
            ("email", attrs.get("email"), f"{_PROFILE}/attributes/email"),
            ("phone_number", attrs.get("phone_number"), f"{_PROFILE}/attributes/phone_number"),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise invalid(
            f"Exactly one profile identifier (id, email or phone_number) is required; got {len(given)}.",
            pointer=_PROFILE,
        )
    [(name, value, where)] = given
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"'{name}' must be a non-empty string.", pointer=where)
    value = value.strip()
    if name == "email":
        value = check_email(value, where)
    elif name == "phone_number":
        value = check_phone(value, where)
    return name, value


async def request_profile_deletion(request: web.Request) -> web.Response:
    ctx = context(request)
    data = resource(await read_json(request, MAX_REQUEST_BYTES), JOB_TYPE)
    name, value = identifier(data)
    job = DeletionRequest(ctx.ids.ulid(), name, value, now())
    with ctx.store.lock:
        ctx.store.deletion_requests.append(job)
    ctx.jobs.later(ctx.jobs.processing_lag, lambda: erase(ctx.store, job), f"klaviyo-deletion-{job.id}")
    return accepted()
