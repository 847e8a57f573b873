"""Bulk profile import: run the packed jobs, poll them, map import errors back to items.

Projections are split into jobs by :func:`crmsync.connectors.klaviyo.packing.pack_jobs` (at most
10,000 profiles and 5 MB per job, 100 KB per profile; oversized profiles are rejected locally).

A job is asynchronous: it is polled until ``complete`` (or ``cancelled``/``failed``), then every page
of its ``import-errors`` is read and each error is mapped back to its item through the error's
``original_payload`` (``external_id``, else ``email``, else ``phone_number``). Items without an error
succeeded. Their profile ids are not part of that answer, so ``target_id`` stays ``None`` unless the
caller wants them (``want_ids``, e.g. for list membership): then the job's profiles are read
(``GET .../profiles``, 100 per page, only the identifier fields) and matched to the items the same
way. That read costs one request per 100 profiles of the job, so it is made only for jobs holding
an item that needs its id.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import quote

from yarl import URL

from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.connectors.klaviyo.errors import field_from_pointer, first_error
from crmsync.connectors.klaviyo.packing import PackedJob, pack_jobs
from crmsync.connectors.klaviyo.settings import KlaviyoSettings
from crmsync.errors import CrmsyncError, RecordValidationError, Recovery, TransientError
from crmsync.ports import JSON, DeliveryResult, ProgressCallback, Projection

log = logging.getLogger(__name__)

#: Jobs of one ``bulk_upsert`` call in flight at once: enough to overlap Klaviyo's queueing, few
#: enough that creating and polling them stays inside the bulk endpoints' 10/s and 150/min per account.
JOB_CONCURRENCY = 3
#: How often a job whose creation was refused because of one profile is resubmitted without it.
MAX_RESUBMITS = 5
#: Page size of the job's import errors and profiles (the most the spec allows).
PAGE_SIZE = 100
#: Polling starts at ``bulk_poll_interval_seconds`` and slows down by this factor per poll, up to
#: :data:`POLL_MAX_INTERVAL`: short jobs are noticed quickly, while long ones stay far below the job
#: status endpoint's steady limit (150/min per account), which 0.5 s polls of 3 jobs would exceed.
POLL_GROWTH = 1.5
POLL_MAX_INTERVAL = 5.0

JOBS_PATH = "/api/profile-bulk-import-jobs"
_PROFILE_INDEX = re.compile(r"^/data/attributes/profiles/data/(\d+)(?:/|$)")
_FAILED_STATES = frozenset({"cancelled", "failed"})

Report = Callable[[int, int], Awaitable[None]]  # (job number, processed in that job)


class BulkImporter:
    """Runs the jobs of one ``bulk_upsert`` call, a few at a time, and reports aggregated progress."""

    def __init__(
        self,
        client: KlaviyoClient,
        settings: KlaviyoSettings,
        *,
        connection: str,
        want_ids: Callable[[Projection], bool] | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._connection = connection
        self._want_ids = want_ids

    async def run(
        self, items: list[Projection], progress: ProgressCallback | None = None, *, list_id: str | None = None
    ) -> list[DeliveryResult]:
        """Import ``items``; with ``list_id`` the jobs add every profile to that list as well."""
        jobs, results = pack_jobs(items, connection=self._connection, list_id=list_id)
        done: dict[int, int] = {}  # job number -> processed count
        total = len(items)

        async def report(job_no: int, processed: int) -> None:
            if progress is None or done.get(job_no) == processed:
                return
            done[job_no] = processed
            outcome = progress(len(results) + sum(done.values()), total)
            if inspect.isawaitable(outcome):
                await outcome

        gate = asyncio.Semaphore(JOB_CONCURRENCY)

        async def one(job_no: int, job: PackedJob) -> dict[int, DeliveryResult]:
            async with gate:
                return await self._run_job(job_no, job, items, report)

        tasks = [asyncio.create_task(one(n, job)) for n, job in enumerate(jobs)]
        try:
            outcomes = await asyncio.gather(*tasks)
        except BaseException:
            # e.g. the progress callback failed or the caller was cancelled: stop the other jobs'
            # polling instead of leaving it running unattended
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for job_results in outcomes:
            results.update(job_results)
        if progress is not None and jobs:
            outcome = progress(total, total)
            if inspect.isawaitable(outcome):
                await outcome
        return [results[i] for i in range(len(items))]

    async def _run_job(
        self, job_no: int, job: PackedJob, items: list[Projection], report: Report
    ) -> dict[int, DeliveryResult]:
        stats = CallStats()
        results: dict[int, DeliveryResult] = {}
        for _ in range(MAX_RESUBMITS + 1):
            try:
                response = await self._client.request(
                    "POST", JOBS_PATH, body=job.body(), operation="bulk_import_profiles", stats=stats
                )
            except RecordValidationError as exc:
                position = _rejected_position(exc, len(job.parts))
                if position is None:
                    return self._fail_all(job, items, exc, stats, results)
                index = job.indexes[position]
                results[index] = _item_failure(items[index], exc, self._connection)
                job = job.without(position)
                if not job.parts:
                    return _with_calls(results, job, stats)
                continue
            except CrmsyncError as exc:
                return self._fail_all(job, items, exc, stats, results)
            break
        else:
            return self._fail_all(
                job,
                items,
                self._job_error(f"creation refused a profile {MAX_RESUBMITS + 1} times"),
                stats,
                results,
            )
        job_id = _resource_id(response.body)
        if job_id is None:
            return self._fail_all(
                job, items, self._job_error("creation answered without a job id"), stats, results
            )

        try:
            state = await self._wait(job_id, job_no, report)
            if state.get("status") != "complete":
                raise TransientError(
                    f"klaviyo bulk import job {job_id} ended {state.get('status')!r}; "
                    "its profiles may be sent again",
                    connection=self._connection,
                    entity="profile",
                )
            import_errors = await self._import_errors(job_id)
        except CrmsyncError as exc:
            return self._fail_all(job, items, self._outcome_unknown(job_id, exc), stats, results)

        results.update(self._map_errors(job_id, job, items, import_errors, state))
        for index in job.indexes:
            results.setdefault(index, DeliveryResult(items[index].record_key, ok=True, calls=0))
        want = self._want_ids if job.list_id is None else None  # the job itself placed them in its list
        wanted = [i for i in job.indexes if results[i].ok and want is not None and want(items[i])]
        if wanted:
            await self._resolve_ids(job_id, job, items, results, wanted)
        return _with_calls(results, job, stats)

    async def _resolve_ids(
        self,
        job_id: str,
        job: PackedJob,
        items: list[Projection],
        results: dict[int, DeliveryResult],
        wanted: list[int],
    ) -> None:
        """Set ``target_id`` of the job's imported items from the job's profiles. If they cannot
        be read, the items that wanted their id fail (retryably, unless the key was refused)."""
        try:
            profiles = await self._pages(
                f"{JOBS_PATH}/{_quote(job_id)}/profiles",
                {"fields[profile]": "email,external_id,phone_number"},
                "get_profiles_for_bulk_import_profiles_job",
            )
        except CrmsyncError as exc:
            error = self._outcome_unknown(job_id, exc, "profiles imported, their ids unknown")
            for index in wanted:
                results[index] = DeliveryResult(items[index].record_key, ok=False, error=error, calls=0)
            return
        by_key: dict[tuple[str, str], int] = {}
        for index in job.indexes:
            if results[index].ok:
                for key in _identity_keys(items[index].payload):
                    by_key.setdefault(key, index)
        for profile in profiles:
            attributes = profile.get("attributes") or {}
            matched = next((by_key[k] for k in _identity_keys(attributes) if k in by_key), None)
            if matched is not None and profile.get("id") and results[matched].target_id is None:
                results[matched].target_id = str(profile["id"])

    async def _wait(self, job_id: str, job_no: int, report: Report) -> JSON:
        """Poll the job until it leaves ``queued``/``processing``; return its attributes."""
        deadline = time.monotonic() + self._settings.bulk_timeout_seconds
        interval = self._settings.bulk_poll_interval_seconds
        ceiling = max(interval, POLL_MAX_INTERVAL)
        path = f"{JOBS_PATH}/{_quote(job_id)}"
        while True:
            response = await self._client.request("GET", path, operation="get_bulk_import_profiles_job")
            data = (response.body or {}).get("data") or {}
            attributes: JSON = data.get("attributes") or {}
            processed = int(attributes.get("completed_count") or 0) + int(attributes.get("failed_count") or 0)
            await report(job_no, processed)
            status = attributes.get("status")
            if status == "complete" or status in _FAILED_STATES:
                return attributes
            if time.monotonic() >= deadline:
                raise TransientError(
                    f"klaviyo bulk import job {job_id} did not finish within "
                    f"{self._settings.bulk_timeout_seconds:g}s (last status {status!r})",
                    connection=self._connection,
                    entity="profile",
                )
            await asyncio.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
            interval = min(interval * POLL_GROWTH, ceiling)

    async def _import_errors(self, job_id: str) -> list[JSON]:
        """Every import error of a job."""
        path = f"{JOBS_PATH}/{_quote(job_id)}/import-errors"
        return await self._pages(path, {}, "get_errors_for_bulk_import_profiles_job")

    async def _pages(self, path: str, params: dict[str, str], operation: str) -> list[JSON]:
        """Every resource of a collection, following ``links.next`` by its cursor on our own host."""
        query = {**params, "page[size]": str(PAGE_SIZE)}
        found: list[JSON] = []
        seen: set[str] = set()
        while True:
            response = await self._client.request("GET", path, params=query, operation=operation)
            body = response.body or {}
            found.extend(e for e in body.get("data") or [] if isinstance(e, dict))
            cursor = _next_cursor(body)
            if cursor is None or cursor in seen:
                return found
            seen.add(cursor)
            query = {**params, "page[size]": str(PAGE_SIZE), "page[cursor]": cursor}

    def _map_errors(
        self, job_id: str, job: PackedJob, items: list[Projection], errors: list[JSON], state: JSON
    ) -> dict[int, DeliveryResult]:
        by_key: dict[tuple[str, str], int] = {}
        for index in job.indexes:
            for key in _identity_keys(items[index].payload):
                by_key.setdefault(key, index)
        results: dict[int, DeliveryResult] = {}
        unmapped = 0
        for error in errors:
            attributes = error.get("attributes") or {}
            original = attributes.get("original_payload")
            if isinstance(original, dict) and isinstance(original.get("attributes"), dict):
                original = original["attributes"]
            matched = next((by_key[k] for k in _identity_keys(original or {}) if k in by_key), None)
            if matched is None:
                unmapped += 1
                continue
            item = items[matched]
            source = attributes.get("source") or {}
            pointer = source.get("pointer") if isinstance(source, dict) else None
            fld = field_from_pointer(pointer)
            detail = attributes.get("detail") or attributes.get("title") or "rejected"
            label = f" field {fld!r}" if fld else ""
            rejected = RecordValidationError(
                f"klaviyo bulk import job {job_id} rejected the profile{label}: {detail}",
                field=fld,
                connection=self._connection,
                entity="profile",
                record_key=item.record_key,
                correlation_id=item.correlation_id,
                detail={k: v for k, v in attributes.items() if k != "original_payload"},
            )
            results[matched] = DeliveryResult(item.record_key, ok=False, error=rejected, calls=0)
        failed = int(state.get("failed_count") or 0)
        if unmapped or failed > len(results):
            log.warning(
                "klaviyo bulk import job %s: %d failed profile(s) reported, %d mapped to items, "
                "%d import error(s) could not be matched by external_id/email/phone_number",
                job_id,
                failed,
                len(results),
                unmapped,
            )
        return results

    def _outcome_unknown(
        self, job_id: str, error: CrmsyncError, what: str = "outcome unknown"
    ) -> CrmsyncError:
        """Once a job was accepted, its profiles are not at fault for a failing status read.

        A 404 or 400 while polling must not dead-letter profiles that may well have been imported:
        such errors become transient (the profiles are sent again, which upserts idempotently).
        Fatal errors (a revoked key) and rate limiting keep their own recovery.
        """
        if error.recovery in (Recovery.FATAL, Recovery.RETRY, Recovery.RETRY_AFTER):
            return error
        return TransientError(
            f"klaviyo bulk import job {job_id}: {what}, its profiles may be sent again ({error.message})",
            connection=self._connection,
            entity="profile",
            status=error.status,
        )

    def _job_error(self, reason: str) -> TransientError:
        return TransientError(
            f"klaviyo bulk import: job {reason}; its profiles may be sent again",
            connection=self._connection,
            entity="profile",
        )

    def _fail_all(
        self,
        job: PackedJob,
        items: list[Projection],
        error: CrmsyncError,
        stats: CallStats,
        results: dict[int, DeliveryResult],
    ) -> dict[int, DeliveryResult]:
        for index in job.indexes:
            results.setdefault(index, DeliveryResult(items[index].record_key, ok=False, error=error, calls=0))
        return _with_calls(results, job, stats)


def _with_calls(
    results: dict[int, DeliveryResult], job: PackedJob, stats: CallStats
) -> dict[int, DeliveryResult]:
    """Charge the job's write requests to its first item so that the sum over results is exact."""
    charged = job.indexes[0] if job.indexes else min(results, default=-1)
    if charged in results:
        results[charged].calls = stats.attempts
    return results


def _item_failure(item: Projection, error: RecordValidationError, connection: str) -> DeliveryResult:
    own = RecordValidationError(
        error.message,
        field=error.field,
        connection=connection,
        entity="profile",
        record_key=item.record_key,
        correlation_id=item.correlation_id,
        status=error.status,
        detail=error.detail,
    )
    return DeliveryResult(item.record_key, ok=False, error=own, calls=0)


def _rejected_position(error: RecordValidationError, count: int) -> int | None:
    """Which profile of the job a 400's pointer designates (``/data/attributes/profiles/data/N``)."""
    source = first_error({"errors": error.detail}).get("source")
    pointer = source.get("pointer") if isinstance(source, dict) else None
    match = _PROFILE_INDEX.match(pointer or "")
    if match is None:
        return None
    position = int(match.group(1))
    return position if position < count else None


def _identity_keys(attributes: Any) -> Iterable[tuple[str, str]]:
    """Keys an import error can be matched on, most specific first (e-mail compared case-folded)."""
    if not isinstance(attributes, dict):
        return
    for name in ("external_id", "email", "phone_number"):
        value = attributes.get(name)
        if isinstance(value, str) and value:
            yield name, value.casefold() if name == "email" else value


def _resource_id(body: JSON | None) -> str | None:
    data = (body or {}).get("data")
    value = data.get("id") if isinstance(data, dict) else None
    return str(value) if value else None


def _next_cursor(body: JSON) -> str | None:
    """The ``page[cursor]`` of ``links.next``; the link's host is ignored so the key never leaves."""
    links = body.get("links") or {}
    link = links.get("next") if isinstance(links, dict) else None
    if not link:
        return None
    cursor = URL(str(link)).query.get("page[cursor]")
    return cursor or None


def _quote(value: str) -> str:
    return quote(value, safe="")
