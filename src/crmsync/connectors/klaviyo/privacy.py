"""GDPR / CCPA erasure: ``POST /api/data-privacy-deletion-jobs`` (request_profile_deletion).

Body (spec ``DataPrivacyCreateDeletionJobQuery``, revision 2026-07-15)::

    {"data": {"type": "data-privacy-deletion-job",
              "attributes": {"profile": {"data": {"type": "profile", "id"?: "01...",
                                                  "attributes": {"email"?: ..., "phone_number"?: ...}}}}}}

"Request a deletion for the profiles corresponding to one of the following identifiers: ``email``,
``phone_number``, or ``id``. If multiple identifiers are provided, we will return an error." —
so exactly one is sent; asking with none or several is refused locally. ``attributes`` is required
by the schema, so an id-only request sends ``"attributes": {}``. Klaviyo answers 202 with no body
and deletes asynchronously; ``ok=True`` means the request was accepted. The endpoint allows
3 requests/s and 60/min per account (the client's limiter and retries take care of 429s).
"""

from __future__ import annotations

import hashlib
from typing import Any

from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.errors import CrmsyncError, RecordValidationError
from crmsync.ports import DeliveryResult

DELETION_PATH = "/api/data-privacy-deletion-jobs"
JOB_TYPE = "data-privacy-deletion-job"


def deletion_body(*, email: str | None, phone_number: str | None, profile_id: str | None) -> dict[str, Any]:
    profile: dict[str, Any] = {"type": "profile"}
    if profile_id:
        profile["id"] = profile_id
    attributes: dict[str, str] = {}
    if email:
        attributes["email"] = email
    if phone_number:
        attributes["phone_number"] = phone_number
    profile["attributes"] = attributes
    return {"data": {"type": JOB_TYPE, "attributes": {"profile": {"data": profile}}}}


def default_record_key(kind: str, value: str) -> str:
    """``"email#1a2b3c4d5e6f"``: stable per person without putting the address in logs."""
    return f"{kind}#{hashlib.sha256(value.encode()).hexdigest()[:12]}"


def _record_key(given: list[tuple[str, str]]) -> str:
    if not given:
        return "data-privacy-deletion"
    kind, value = given[0]
    return value if kind == "id" else default_record_key(kind, value)


class KlaviyoPrivacy:
    """Requests profile deletions; never raises a CrmsyncError (see :meth:`request_deletion`)."""

    def __init__(self, client: KlaviyoClient, *, connection: str = "klaviyo") -> None:
        self._client = client
        self._connection = connection

    async def request_deletion(
        self,
        *,
        email: str | None = None,
        phone_number: str | None = None,
        profile_id: str | None = None,
        record_key: str | None = None,
        correlation_id: str | None = None,
    ) -> DeliveryResult:
        """Ask Klaviyo to delete the profile(s) matching exactly one identifier.

        ``record_key`` defaults to ``profile_id`` or a digest of the e-mail / phone number.
        ``target_id`` is the profile id when that was the identifier. A failure comes back as
        ``ok=False`` with the error (its ``recovery`` says whether to retry).
        """
        given = [
            (k, v) for k, v in (("id", profile_id), ("email", email), ("phone_number", phone_number)) if v
        ]
        if record_key is None:
            record_key = _record_key(given)
        if len(given) != 1:
            error = RecordValidationError(
                "klaviyo request_profile_deletion takes exactly one of profile_id, email, phone_number "
                f"(got {len(given)})",
                field="identifier",
                connection=self._connection,
                entity="profile",
                record_key=record_key,
                correlation_id=correlation_id,
            )
            return DeliveryResult(record_key, ok=False, error=error, calls=0)
        stats = CallStats()
        try:
            await self._client.request(
                "POST",
                DELETION_PATH,
                body=deletion_body(email=email, phone_number=phone_number, profile_id=profile_id),
                operation="request_profile_deletion",
                record_key=record_key,
                correlation_id=correlation_id,
                kind="erasure",
                stats=stats,
            )
        except CrmsyncError as exc:
            exc.record_key = exc.record_key or record_key
            return DeliveryResult(record_key, ok=False, error=exc, calls=stats.attempts)
        return DeliveryResult(record_key, ok=True, target_id=profile_id, calls=stats.attempts)
