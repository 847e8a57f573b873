"""Consent in Klaviyo: bulk subscribe / unsubscribe, suppress / unsuppress, lists.

:class:`KlaviyoConsent` takes the connector's :class:`~crmsync.connectors.klaviyo.client.KlaviyoClient`
and delivers :class:`~crmsync.connectors.klaviyo.consent_bodies.ConsentChange` items:

* ``subscribe`` → ``POST /api/profile-subscription-bulk-create-jobs`` (bulk_subscribe_profiles), at
  most 1,000 profiles per request ("Maximum number of profiles can be submitted for subscription:
  1000"). ``historical=True`` sends ``historical_import: true`` with each change's ``consented_at``
  (backfills: no double opt-in, no "Added to list" flows); live changes send neither.
* ``unsubscribe`` → ``POST /api/profile-subscription-bulk-delete-jobs``, at most 100 per request
  ("Maximum number of profiles per call: 100"). With a ``list_id`` Klaviyo unsubscribes list members
  from that list only and everyone else globally (the spec's warning).
* ``suppress`` / ``unsuppress`` → ``POST /api/profile-suppression-bulk-{create,delete}-jobs`` ("Email
  address per request limit: 100"), then the job is polled until ``complete``.
* ``ensure_list`` / ``add_to_list`` → :class:`~crmsync.connectors.klaviyo.lists.KlaviyoLists`.

The subscription endpoints answer 202 with no body and no job to poll: ``ok=True`` means Klaviyo
accepted the change, which it applies asynchronously. Nothing here raises on a per-record failure:
each item gets a :class:`~crmsync.ports.DeliveryResult`, in the order of the input. A 400 whose
``source.pointer`` names one profile of a request (``/data/attributes/profiles/data/3/...``) fails that
item only and the request is sent again without it; any other failure (after the client's retries)
fails the request's items with that error, whose ``recovery`` says what to do. Write requests are
charged (``calls``) to the first item of each request.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from crmsync.connectors.klaviyo.batching import dotted_field, error_pointer, pointer_segments
from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.connectors.klaviyo.consent_bodies import (
    ConsentChange,
    check_change,
    check_email_only,
    consent_entry,
    consent_job,
    suppression_job,
)
from crmsync.connectors.klaviyo.lists import KlaviyoLists
from crmsync.connectors.klaviyo.settings import KlaviyoSettings
from crmsync.errors import CrmsyncError, RecordValidationError, Recovery, TransientError
from crmsync.ports import JSON, DeliveryResult

MAX_SUBSCRIBE = 1000
MAX_UNSUBSCRIBE = 100
MAX_SUPPRESS = 100
#: Requests of one call in flight at once (these endpoints allow 75/s and 750/min per account).
REQUEST_CONCURRENCY = 3
#: How often a request refused because of one profile is sent again without it.
MAX_RESUBMITS = 5
POLL_GROWTH = 1.5
POLL_MAX_INTERVAL = 5.0

SUBSCRIBE_PATH = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE_PATH = "/api/profile-subscription-bulk-delete-jobs"
SUPPRESS_PATH = "/api/profile-suppression-bulk-create-jobs"
UNSUPPRESS_PATH = "/api/profile-suppression-bulk-delete-jobs"
_ENTRY = re.compile(r"^/data/attributes/profiles/data/(\d+)(?:/|$)")

Check = Callable[[ConsentChange], RecordValidationError | None]
Body = Callable[[list[JSON]], JSON]


class KlaviyoConsent:
    """Delivers consent changes and suppressions; see the module docstring."""

    def __init__(
        self, client: KlaviyoClient, settings: KlaviyoSettings | None = None, *, connection: str = "klaviyo"
    ) -> None:
        self._client = client
        self._connection = connection
        self._poll_interval = settings.bulk_poll_interval_seconds if settings else 0.5
        self._timeout = settings.bulk_timeout_seconds if settings else 600.0
        self.lists = KlaviyoLists(client, connection=connection)

    # -- subscriptions --------------------------------------------------------------------------
    async def subscribe(
        self,
        items: Sequence[ConsentChange],
        *,
        list_id: str | None = None,
        historical: bool = False,
        custom_source: str | None = None,
    ) -> list[DeliveryResult]:
        """Subscribe each item's channels (and add the profiles to ``list_id``, if given)."""

        def body(entries: list[JSON]) -> JSON:
            return consent_job(
                entries, subscribe=True, list_id=list_id, historical=historical, custom_source=custom_source
            )

        return await self._deliver(
            items,
            check=lambda item: check_change(item, connection=self._connection, historical=historical),
            entry=lambda item: consent_entry(item, subscribe=True, historical=historical),
            body=body,
            limit=MAX_SUBSCRIBE,
            path=SUBSCRIBE_PATH,
            operation="bulk_subscribe_profiles",
        )

    async def unsubscribe(
        self, items: Sequence[ConsentChange], *, list_id: str | None = None
    ) -> list[DeliveryResult]:
        """Unsubscribe each item's channels (from ``list_id`` for its members, else globally)."""
        return await self._deliver(
            items,
            check=lambda item: check_change(item, connection=self._connection, subscribe=False),
            entry=lambda item: consent_entry(item, subscribe=False),
            body=lambda entries: consent_job(entries, subscribe=False, list_id=list_id),
            limit=MAX_UNSUBSCRIBE,
            path=UNSUBSCRIBE_PATH,
            operation="bulk_unsubscribe_profiles",
        )

    # -- suppressions ---------------------------------------------------------------------------
    async def suppress(self, items: Sequence[ConsentChange]) -> list[DeliveryResult]:
        """Suppress each item's email (reason USER_SUPPRESSED); unknown emails get a profile."""
        return await self._suppression(items, suppress=True)

    async def unsuppress(self, items: Sequence[ConsentChange]) -> list[DeliveryResult]:
        """Lift USER_SUPPRESSED suppressions (bounces and unsubscribes stay, as Klaviyo documents)."""
        return await self._suppression(items, suppress=False)

    async def _suppression(self, items: Sequence[ConsentChange], *, suppress: bool) -> list[DeliveryResult]:
        kind = "bulk_suppress_profiles" if suppress else "bulk_unsuppress_profiles"
        return await self._deliver(
            items,
            check=lambda item: check_email_only(item, connection=self._connection),
            entry=lambda item: {"email": item.email},
            body=lambda entries: suppression_job([str(e["email"]) for e in entries], suppress=suppress),
            limit=MAX_SUPPRESS,
            path=SUPPRESS_PATH if suppress else UNSUPPRESS_PATH,
            operation=kind,
            job_read=f"get_{kind}_job",
        )

    # -- lists ----------------------------------------------------------------------------------
    async def ensure_list(self, name: str) -> str:
        """The id of the list called ``name``, created if there is none (raises CrmsyncError)."""
        return await self.lists.ensure_list(name)

    async def add_to_list(self, list_id: str, profile_ids: Sequence[str]) -> list[DeliveryResult]:
        """Add profiles to a list (membership only, no consent change); one result per id."""
        return await self.lists.add_to_list(list_id, profile_ids)

    # -- machinery ------------------------------------------------------------------------------
    async def _deliver(
        self,
        items: Sequence[ConsentChange],
        *,
        check: Check,
        entry: Callable[[ConsentChange], JSON],
        body: Body,
        limit: int,
        path: str,
        operation: str,
        job_read: str | None = None,
    ) -> list[DeliveryResult]:
        results: dict[int, DeliveryResult] = {}
        valid: list[tuple[int, JSON]] = []
        for index, item in enumerate(items):
            refused = check(item)
            if refused is not None:
                results[index] = DeliveryResult(item.record_key, ok=False, error=refused, calls=0)
            else:
                valid.append((index, entry(item)))
        gate = asyncio.Semaphore(REQUEST_CONCURRENCY)

        async def one(chunk: list[tuple[int, JSON]]) -> dict[int, DeliveryResult]:
            async with gate:
                return await self._send(chunk, items, body, path, operation, job_read)

        chunks = [valid[start : start + limit] for start in range(0, len(valid), limit)]
        tasks = [asyncio.create_task(one(chunk)) for chunk in chunks]
        try:
            outcomes = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for outcome in outcomes:
            results.update(outcome)
        return [results[i] for i in range(len(items))]

    async def _send(
        self,
        chunk: list[tuple[int, JSON]],
        items: Sequence[ConsentChange],
        body: Body,
        path: str,
        operation: str,
        job_read: str | None,
    ) -> dict[int, DeliveryResult]:
        stats = CallStats()
        results: dict[int, DeliveryResult] = {}
        first = chunk[0][0]
        pending = list(chunk)
        error: CrmsyncError | None = None
        response_body: JSON | None = None
        for _ in range(MAX_RESUBMITS + 1):
            try:
                response = await self._client.request(
                    "POST", path, body=body([e for _, e in pending]), operation=operation, stats=stats
                )
            except RecordValidationError as exc:
                position = _entry_position(exc, len(pending))
                if position is None:
                    error = exc
                    break
                index = pending.pop(position)[0]
                results[index] = _item_error(items[index], exc, self._connection)
                if not pending:
                    break
                continue
            except CrmsyncError as exc:
                error = exc
                break
            response_body = response.body
            break
        else:
            error = self._transient(f"{operation} refused a profile {MAX_RESUBMITS + 1} times")
        if error is None and pending and job_read is not None:
            error = await self._wait_job(path, job_read, response_body)
        for index, _ in pending:
            item = items[index]
            if error is None:
                results[index] = DeliveryResult(item.record_key, ok=True, calls=0)
            else:
                results[index] = DeliveryResult(item.record_key, ok=False, error=error, calls=0)
        results[first].calls = stats.attempts
        return results

    async def _wait_job(self, path: str, operation: str, created: JSON | None) -> CrmsyncError | None:
        """Poll a suppression job until it is complete; the error its items get otherwise."""
        data = (created or {}).get("data")
        job_id = data.get("id") if isinstance(data, dict) else None
        if not job_id:
            return self._transient(f"{operation}: the job was accepted without an id")
        deadline = time.monotonic() + self._timeout
        interval = self._poll_interval
        try:
            while True:
                response = await self._client.request(
                    "GET", f"{path}/{quote(str(job_id), safe='')}", operation=operation
                )
                attributes = ((response.body or {}).get("data") or {}).get("attributes") or {}
                status = attributes.get("status")
                if status == "complete":
                    return None
                if status == "cancelled" or time.monotonic() >= deadline:
                    return self._transient(f"job {job_id} ended {status!r} or did not finish in time")
                await asyncio.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
                interval = min(interval * POLL_GROWTH, max(self._poll_interval, POLL_MAX_INTERVAL))
        except CrmsyncError as exc:
            if exc.recovery in (Recovery.FATAL, Recovery.RETRY, Recovery.RETRY_AFTER):
                return exc
            return self._transient(f"job {job_id}: outcome unknown ({exc.message})")

    def _transient(self, reason: str) -> TransientError:
        return TransientError(
            f"klaviyo consent: {reason}; the changes may be sent again",
            connection=self._connection,
            entity="consent",
        )


def _entry_position(error: RecordValidationError, count: int) -> int | None:
    match = _ENTRY.match(error_pointer(error) or "")
    if match is None:
        return None
    position = int(match.group(1))
    return position if position < count else None


def _item_error(item: ConsentChange, error: RecordValidationError, connection: str) -> DeliveryResult:
    """The request's 400 as the item's own error, naming the field inside its profile entry."""
    segments = pointer_segments(error_pointer(error))
    field_name = dotted_field(segments[5:]) if len(segments) > 5 else error.field
    detail: Any = error.detail
    own = RecordValidationError(
        f"klaviyo consent: invalid{f' field {field_name!r}' if field_name else ''}: {error.message}",
        field=field_name,
        connection=connection,
        entity="consent",
        record_key=item.record_key,
        correlation_id=item.correlation_id,
        status=error.status,
        detail=detail,
    )
    return DeliveryResult(item.record_key, ok=False, error=own, calls=0)
