"""One profile at a time: create-or-update, linking a duplicate, and lookups by identifier.

``POST /api/profile-import`` creates or updates the profile matched by the payload's identifiers
(201 created, 200 updated), so a re-delivery is idempotent. A 409 ``duplicate_profile`` names the
profile that already holds one of our identifiers: it is PATCHed with the whole payload (linked),
see :meth:`ProfileWriter._link_duplicate`. :meth:`ProfileWriter.find` looks a profile up by
``external_id``, ``email`` or ``phone_number`` in the caller's priority order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.connectors.klaviyo.lists import filter_literal
from crmsync.connectors.klaviyo.resource import profile_attributes, profile_resource
from crmsync.errors import CrmsyncError, DuplicateError, NotFoundError, PermanentError
from crmsync.ports import JSON, DeliveryResult, Projection

log = logging.getLogger("crmsync.connectors.klaviyo.target")

#: Profile identifiers, in the order ``find`` tries them (the stable source id first).
IDENTIFIERS = ("external_id", "email", "phone_number")
ENTITY = "customer"


def _same_identifier(name: str, ours: Any, theirs: Any) -> bool:
    if not isinstance(ours, str) or not isinstance(theirs, str):
        return False
    return ours.casefold() == theirs.casefold() if name == "email" else ours == theirs


class ProfileWriter:
    """Single-profile writes and lookups for :class:`~.target.KlaviyoConnector`."""

    def __init__(self, client: KlaviyoClient, *, connection: str) -> None:
        self.client = client
        self.name = connection

    async def upsert(self, item: Projection) -> DeliveryResult:
        """Create or update one profile; on ``duplicate_profile`` link to the existing profile."""
        stats = CallStats()
        body = {"data": profile_resource(item)}
        try:
            response = await self.client.request(
                "POST",
                "/api/profile-import",
                body=body,
                operation="create_or_update_profile",
                record_key=item.record_key,
                kind=item.kind,
                correlation_id=item.correlation_id,
                stats=stats,
            )
        except DuplicateError as duplicate:
            return await self._link_duplicate(item, duplicate, stats)
        except CrmsyncError as exc:
            return DeliveryResult(item.record_key, ok=False, error=exc, calls=stats.attempts)
        data = (response.body or {}).get("data") or {}
        return DeliveryResult(
            item.record_key,
            ok=True,
            target_id=data.get("id"),
            created=response.status == 201,
            calls=stats.attempts,
        )

    async def _link_duplicate(
        self, item: Projection, duplicate: DuplicateError, stats: CallStats
    ) -> DeliveryResult:
        """PATCH the profile Klaviyo says already holds one of our identifiers.

        The PATCH first carries the whole payload, so the existing profile also receives our
        ``external_id`` and future upserts match it directly. If that PATCH itself answers
        ``duplicate_profile``, another profile holds one of the identifiers we are setting;
        setting it again could only 409 again, so the identifiers equal to that other profile's
        are dropped from the PATCH (by name in the log, never by value) and the PATCH is repeated.
        Each round removes at least one identifier, so this ends after at most three rounds.
        """
        existing = duplicate.existing_id
        if not existing:
            return DeliveryResult(item.record_key, ok=False, error=duplicate, calls=stats.attempts)
        attributes, meta = profile_attributes(item)
        attributes = dict(attributes)
        last: CrmsyncError = duplicate
        for _ in range(len(IDENTIFIERS) + 1):
            try:
                await self.client.request(
                    "PATCH",
                    f"/api/profiles/{quote(existing, safe='')}",
                    body={"data": _patch_resource(existing, attributes, meta)},
                    operation="update_profile",
                    record_key=item.record_key,
                    kind=item.kind,
                    correlation_id=item.correlation_id,
                    stats=stats,
                )
            except DuplicateError as again:
                last = again
                conflicting = await self._conflicting_identifiers(attributes, existing, again)
                if not conflicting:
                    break
                for name in conflicting:
                    attributes.pop(name, None)
                log.warning(
                    "klaviyo %s: record %s linked to profile %s without identifier(s) %s, "
                    "which belong to profile %s",
                    self.name,
                    item.record_key,
                    existing,
                    ", ".join(conflicting),
                    again.existing_id,
                )
                continue
            except CrmsyncError as exc:
                return DeliveryResult(item.record_key, ok=False, error=exc, calls=stats.attempts)
            return DeliveryResult(
                item.record_key, ok=True, target_id=existing, created=False, calls=stats.attempts
            )
        return DeliveryResult(item.record_key, ok=False, error=last, calls=stats.attempts)

    async def _conflicting_identifiers(
        self, attributes: JSON, existing: str, conflict: DuplicateError
    ) -> list[str]:
        """Identifiers in ``attributes`` that the conflicting profile (not ``existing``) holds."""
        other = conflict.existing_id
        if not other or other == existing:
            return []
        try:
            holder = await self.get_profile(other)
        except CrmsyncError:
            return []
        held = (holder or {}).get("attributes") or {}
        return [n for n in IDENTIFIERS if n in attributes and _same_identifier(n, attributes[n], held.get(n))]

    async def find(self, kind: str, identifiers: Mapping[str, str]) -> str | None:
        """The id of the profile matching the identifiers, tried in the order given (default:
        ``external_id``, else ``email``, else ``phone_number``)."""
        if kind != ENTITY:
            raise PermanentError(
                f"klaviyo connector {self.name!r} cannot look up {kind!r} records (only {ENTITY!r})",
                connection=self.name,
                entity=kind,
            )
        # the caller's order is the priority (a dict keeps it); Klaviyo's three identifiers only
        for name in [n for n in identifiers if n in IDENTIFIERS] or list(IDENTIFIERS):
            value = identifiers.get(name)
            if not value:
                continue
            response = await self.client.request(
                "GET",
                "/api/profiles",
                params={
                    "filter": f"equals({name},{filter_literal(value)})",
                    "page[size]": "1",
                    "fields[profile]": name,
                },
                operation="get_profiles",
            )
            data = (response.body or {}).get("data") or []
            if data and isinstance(data[0], dict) and data[0].get("id"):
                return str(data[0]["id"])
        return None

    async def get_profile(self, profile_id: str) -> JSON | None:
        """The profile resource object (``{type, id, attributes, ...}``), or ``None`` if absent."""
        try:
            response = await self.client.request(
                "GET", f"/api/profiles/{quote(profile_id, safe='')}", operation="get_profile"
            )
        except NotFoundError:
            return None
        data = (response.body or {}).get("data")
        return data if isinstance(data, dict) else None


def _patch_resource(
    profile_id: str, attributes: dict[str, Any], meta: dict[str, Any] | None
) -> dict[str, Any]:
    resource: dict[str, Any] = {"type": "profile", "id": profile_id, "attributes": attributes}
    if meta is not None:
        resource["meta"] = meta
    return resource
