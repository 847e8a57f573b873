"""The Klaviyo target connector: customers, events and catalog records, dispatched by ``item.kind``.

* ``customer`` → profiles. Single records go through ``POST /api/profile-import`` (create-or-update
  matched by identifiers: 201 created, 200 updated), so a re-delivery is idempotent. Batches go
  through asynchronous bulk import jobs (:mod:`crmsync.connectors.klaviyo.bulk`). Either way, the
  profile then joins the lists its ``$lists`` names and leaves those it named before
  (:mod:`~crmsync.connectors.klaviyo.memberships`).
* ``event`` (the engine's orders) → events: ``POST /api/events`` and, in batches,
  ``POST /api/event-bulk-create-jobs`` (:mod:`~crmsync.connectors.klaviyo.events`,
  :mod:`~crmsync.connectors.klaviyo.event_bulk`).
* ``catalog_category`` / ``catalog_item`` (the engine's categories and products) → the Catalogs API,
  one at a time (:mod:`~crmsync.connectors.klaviyo.catalog`) or through the catalog bulk jobs
  (:mod:`~crmsync.connectors.klaviyo.catalog_bulk`); these two kinds can also be deleted.

Failure contract of :meth:`KlaviyoConnector.upsert` and :meth:`~KlaviyoConnector.bulk_upsert`: they
never raise a :class:`~crmsync.errors.CrmsyncError`; a failed record comes back as ``ok=False`` with
the error, whose ``recovery`` tells the engine what to do. Transient failures (5xx, timeouts, 429)
are retried inside the client first; the :class:`~crmsync.errors.TransientError` or
:class:`~crmsync.errors.RateLimitedError` is returned only once those retries are exhausted, so the
engine can schedule the record again later without blocking the rest of the batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from crmsync.connectors.klaviyo.batching import ProgressSplit, unsupported
from crmsync.connectors.klaviyo.bulk import BulkImporter
from crmsync.connectors.klaviyo.catalog import CATEGORY_KIND, ITEM_KIND, CatalogWriter
from crmsync.connectors.klaviyo.catalog_bulk import CatalogBulk
from crmsync.connectors.klaviyo.changes import KlaviyoChanges, profile_change
from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.connectors.klaviyo.consent import KlaviyoConsent
from crmsync.connectors.klaviyo.consent_bodies import ConsentChange
from crmsync.connectors.klaviyo.event_bulk import BulkEventSender
from crmsync.connectors.klaviyo.events import EVENT_KIND, EventSender
from crmsync.connectors.klaviyo.lists import KlaviyoLists
from crmsync.connectors.klaviyo.memberships import ListMemberships, needs_membership
from crmsync.connectors.klaviyo.packing import MAX_JOB_BYTES, MAX_JOB_RECORDS
from crmsync.connectors.klaviyo.profiles import ENTITY, IDENTIFIERS, ProfileWriter
from crmsync.connectors.klaviyo.settings import KlaviyoSettings
from crmsync.connectors.klaviyo.suppressions import holds_back, liftable_suppressions
from crmsync.errors import CrmsyncError, PermanentError
from crmsync.ports import (
    JSON,
    Capabilities,
    ConsentUpdate,
    DeliveryResult,
    ProgressCallback,
    Projection,
    RateLimiter,
    RequestObserver,
)

log = logging.getLogger(__name__)

CATALOG_KINDS = frozenset({CATEGORY_KIND, ITEM_KIND})
#: Projection kinds this connector delivers (the engine projects orders to ``event``, categories to
#: ``catalog_category`` and products to ``catalog_item``).
PROJECTION_KINDS = frozenset({ENTITY, EVENT_KIND, *CATALOG_KINDS})

CAPABILITIES = Capabilities(
    entities=frozenset({ENTITY, "order", "category", "product"}),
    upsert=True,
    bulk_upsert=True,
    # per profile bulk import job; events and catalog records are packed by their own modules
    max_bulk_records=MAX_JOB_RECORDS,
    max_bulk_bytes=MAX_JOB_BYTES,
    find=True,
    find_by=frozenset(IDENTIFIERS),  # Klaviyo filters profiles by these; not by properties (no national id)
    delete=True,
)


#: A bulk delivery of one group of kinds: ``(items, progress) -> results in the order of items``.
Runner = Callable[[list[Projection], ProgressCallback | None], Coroutine[Any, Any, list[DeliveryResult]]]


_CHANNELS = {  # canonical channel -> where Klaviyo keeps it in ``subscriptions``
    "email_marketing": ("email", "marketing"),
    "sms_marketing": ("sms", "marketing"),
    "sms_transactional": ("sms", "transactional"),
}


class KlaviyoConnector:
    """Implements :class:`crmsync.ports.TargetConnector` for Klaviyo profiles."""

    system = "klaviyo"
    capabilities = CAPABILITIES

    def __init__(
        self,
        name: str,
        settings: KlaviyoSettings,
        observer: RequestObserver | None = None,
        *,
        client: KlaviyoClient | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.client = client or KlaviyoClient(settings, connection=name, observer=observer, limiter=limiter)
        self._profiles = ProfileWriter(self.client, connection=name)
        self._bulk = BulkImporter(self.client, settings, connection=name, want_ids=needs_membership)
        self._memberships = ListMemberships(KlaviyoLists(self.client, connection=name), connection=name)
        self._events = EventSender(self.client, connection=name)
        self._bulk_events = BulkEventSender(self.client, self._events, connection=name)
        self._catalog = CatalogWriter(self.client, connection=name)
        self._catalog_bulk = CatalogBulk(self.client, settings, connection=name)

    def __repr__(self) -> str:
        return (
            f"KlaviyoConnector(name={self.name!r}, base_url={self.settings.base_url!r}, "
            f"revision={self.settings.revision!r})"
        )

    async def __aenter__(self) -> KlaviyoConnector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- single record ------------------------------------------------------------------------
    async def upsert(self, item: Projection) -> DeliveryResult:
        """Deliver one record of any supported kind (see the module docstring)."""
        if item.kind == EVENT_KIND:
            return await self._events.upsert(item)
        if item.kind in CATALOG_KINDS:
            return await self._catalog.upsert(item)
        refused = self._unsupported(item)
        if refused is not None:
            return refused
        result = await self._profiles.upsert(item)
        return (await self._memberships.apply([item], [result]))[0]

    # -- batches ------------------------------------------------------------------------------
    async def bulk_upsert(
        self, items: list[Projection], progress: ProgressCallback | None = None
    ) -> list[DeliveryResult]:
        """Deliver many records: profiles through bulk import jobs, events through bulk create
        requests, catalog records through catalog bulk jobs, the kinds concurrently; results are
        in the order of ``items``."""
        runners: dict[str, Runner] = {
            ENTITY: self._bulk_profiles,
            EVENT_KIND: self._bulk_events.run,
            CATEGORY_KIND: self._catalog_bulk.upsert,
            ITEM_KIND: self._catalog_bulk.upsert,
        }
        groups: dict[Runner, list[int]] = {}
        refused: dict[int, DeliveryResult] = {}
        for index, item in enumerate(items):
            runner = runners.get(item.kind)
            if runner is None:
                refused[index] = unsupported(item, self.name, _SUPPORTED)
            else:
                groups.setdefault(runner, []).append(index)
        return await self._run_groups(items, groups, refused, progress)

    async def _bulk_profiles(
        self, items: list[Projection], progress: ProgressCallback | None = None
    ) -> list[DeliveryResult]:
        """Profile bulk import jobs, then the list memberships (``$lists``, see :mod:`.memberships`)."""
        return await self._memberships.bulk(items, progress, self._bulk.run)

    async def delete(self, item: Projection) -> DeliveryResult:
        """Delete one catalog item or category (404: already gone, counts as deleted)."""
        if item.kind not in CATALOG_KINDS:
            return unsupported(item, self.name, _DELETABLE, "deletes")
        return await self._catalog.delete(item)

    async def bulk_delete(
        self, items: list[Projection], progress: ProgressCallback | None = None
    ) -> list[DeliveryResult]:
        """Delete many catalog items and categories through the catalog bulk delete jobs."""
        groups: dict[Runner, list[int]] = {}
        refused: dict[int, DeliveryResult] = {}
        for index, item in enumerate(items):
            if item.kind in CATALOG_KINDS:
                groups.setdefault(self._catalog_bulk.delete, []).append(index)
            else:
                refused[index] = unsupported(item, self.name, _DELETABLE, "deletes")
        return await self._run_groups(items, groups, refused, progress)

    async def _run_groups(
        self,
        items: list[Projection],
        groups: dict[Runner, list[int]],
        refused: dict[int, DeliveryResult],
        progress: ProgressCallback | None,
    ) -> list[DeliveryResult]:
        """Run each runner on its items concurrently, adding their progress up; merge the results.

        Categories and items share one runner (the catalog bulk jobs), which sends categories first.
        """
        if not refused and len(groups) == 1:
            [(runner, _)] = groups.items()
            return await runner(items, progress)
        split = ProgressSplit(progress, len(items), already=len(refused))
        results = dict(refused)
        tasks = [
            asyncio.create_task(runner([items[i] for i in indexes], split.part(f"group-{n}")))
            for n, (runner, indexes) in enumerate(groups.items())
        ]
        try:
            outcomes = await asyncio.gather(*tasks)
        except BaseException:
            # e.g. the progress callback failed or the caller was cancelled: stop the other kinds too
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for indexes, delivered in zip(groups.values(), outcomes, strict=True):
            results.update(zip(indexes, delivered, strict=True))
        await split.finish()
        return [results[i] for i in range(len(items))]

    # -- lookups ------------------------------------------------------------------------------
    async def find(self, kind: str, identifiers: Mapping[str, str]) -> str | None:
        """The id of the profile matching the identifiers, tried in the order given (see
        :meth:`.profiles.ProfileWriter.find`)."""
        return await self._profiles.find(kind, identifiers)

    async def get_profile(self, profile_id: str) -> JSON | None:
        """The profile resource object (``{type, id, attributes, ...}``), or ``None`` if absent."""
        return await self._profiles.get_profile(profile_id)

    # -- consent ------------------------------------------------------------------------------
    async def set_consent(self, updates: list[ConsentUpdate], *, historical: bool) -> list[DeliveryResult]:
        """Subscriptions (bulk subscribe / unsubscribe jobs, see :mod:`.consent`); a subscription
        with a ``list_name`` also joins that list (created on first use). Historical backfills keep
        the source's consent time (``historical_import``); an update without one goes as live."""
        consent = KlaviyoConsent(self.client, self.settings, connection=self.name)
        results = await self._held_back(updates)
        groups: dict[tuple[bool, str | None, bool], list[int]] = {}
        for i, u in enumerate(updates):
            if i not in results:
                groups.setdefault((u.subscribed, u.list_name, historical and u.at is not None), []).append(i)
        for (subscribed, list_name, hist), indexes in groups.items():
            changes = [
                ConsentChange(
                    record_key=updates[i].record_key,
                    email=updates[i].identifiers.get("email"),
                    phone_number=updates[i].identifiers.get("phone_number"),
                    channels=frozenset({updates[i].channel}),
                    consented_at=updates[i].at if hist else None,
                    correlation_id=updates[i].correlation_id,
                )
                for i in indexes
            ]
            try:
                list_id = await consent.ensure_list(list_name) if list_name and subscribed else None
            except CrmsyncError as exc:
                for i in indexes:
                    results[i] = DeliveryResult(updates[i].record_key, ok=False, error=exc, calls=0)
                continue
            sent = (
                await consent.subscribe(changes, list_id=list_id, historical=hist)
                if subscribed
                else await consent.unsubscribe(changes)
            )
            results.update(zip(indexes, sent, strict=True))
        return [results[i] for i in range(len(updates))]

    async def _held_back(self, updates: list[ConsentUpdate]) -> dict[int, DeliveryResult]:
        """E-mail subscriptions not sent because Klaviyo holds a newer "no" (see :mod:`.suppressions`):
        ``ok`` (nothing to retry) with the reason as ``note``. A failed lookup fails those updates
        (retryable as the error says) rather than risk lifting a suppression."""
        wanted = {
            i: u.identifiers["email"]
            for i, u in enumerate(updates)
            if u.subscribed and u.channel == "email_marketing" and u.identifiers.get("email")
        }
        if not wanted:
            return {}
        try:
            found = await liftable_suppressions(self.client, list(wanted.values()))
        except CrmsyncError as exc:
            return {i: DeliveryResult(updates[i].record_key, ok=False, error=exc, calls=0) for i in wanted}
        out: dict[int, DeliveryResult] = {}
        for i, email in wanted.items():
            note = holds_back(found.get(email.strip().lower()), updates[i].at)
            if note is not None:
                out[i] = DeliveryResult(updates[i].record_key, ok=True, calls=0, note=note)
        return out

    async def profile_changes(self, cursor: str | None) -> tuple[list[dict[str, Any]], str]:
        """People changed in Klaviyo since ``cursor`` (see :mod:`.changes` and
        :class:`~crmsync.ports.ProfileChangeSource`): attributes, consent and when."""
        changes = KlaviyoChanges(self.client, connection=self.name)
        profiles, new_cursor = await changes.profiles_updated_since(cursor)
        return [profile_change(profile, _CHANNELS) for profile in profiles], new_cursor

    # -- erasure ------------------------------------------------------------------------------
    async def erase(
        self, identifiers: Mapping[str, str], *, correlation_id: str | None = None
    ) -> DeliveryResult:
        """Request the deletion of one person (GDPR): ``POST /api/data-privacy-deletion-jobs``.

        Klaviyo takes one identifier per job: the profile id when known (the exact profile), else
        the e-mail, else the phone number. 202 means accepted; Klaviyo deletes the profile with its
        events, list memberships and consent asynchronously.
        """
        stats = CallStats()
        profile: dict[str, Any] = {"type": "profile", "attributes": {}}
        if identifiers.get("profile_id"):
            profile["id"] = identifiers["profile_id"]
        elif identifiers.get("email"):
            profile["attributes"] = {"email": identifiers["email"]}
        elif identifiers.get("phone_number"):
            profile["attributes"] = {"phone_number": identifiers["phone_number"]}
        else:
            error = PermanentError(
                "an erasure needs a profile id, an e-mail or a phone number", connection=self.name
            )
            return DeliveryResult("erasure", ok=False, error=error, calls=0)
        body = {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": profile}}}}
        try:
            await self.client.request(
                "POST",
                "/api/data-privacy-deletion-jobs",
                body=body,
                operation="request_profile_deletion",
                correlation_id=correlation_id,
                stats=stats,
            )
        except CrmsyncError as exc:
            return DeliveryResult("erasure", ok=False, error=exc, calls=stats.attempts)
        return DeliveryResult("erasure", ok=True, target_id=profile.get("id"), calls=stats.attempts)

    async def aclose(self) -> None:
        await self.client.aclose()

    def _unsupported(self, item: Projection) -> DeliveryResult | None:
        if item.kind in PROJECTION_KINDS:
            return None
        return unsupported(item, self.name, _SUPPORTED)


_SUPPORTED = "customer, event, catalog_category and catalog_item"
_DELETABLE = "catalog_category and catalog_item"
