"""Bulk jobs (profile import, catalog bulk writes): accepted synchronously (202), run in chunks.

A job is ``queued`` when created, becomes ``processing`` after one ``job_step_seconds`` tick, then
processes ``CHUNK`` profiles per tick with the same create-or-update semantics as
``POST /api/profile-import``; ``completed_count`` and ``failed_count`` grow as it goes, and it ends
``complete``. A profile that fails validation or matches two different profiles becomes an
import error (``GET .../import-errors``) instead of failing the job.

Catalog bulk jobs (:class:`CatalogJob`) follow the same lifecycle with ``CATALOG_CHUNK`` members
per tick; a member that fails (duplicate external id, unknown id) is recorded in the job's ``errors``
and counted in ``failed_count``. At most ``max_catalog_in_progress`` (500, per the spec) catalog jobs
may be queued or processing at once; one more is refused with a 429.

Profile suppression jobs (:class:`SuppressionJob`, bulk suppress / unsuppress) follow the same
lifecycle with ``SUPPRESSION_CHUNK`` emails per tick; an email that needs no change (already
suppressed, or no profile to unsuppress) counts in ``skipped_count`` rather than ``completed_count``.
Operations answered 202 without a job resource (bulk subscribe / unsubscribe, data-privacy deletion)
are applied through :meth:`JobManager.later`, after the emulator's ``processing_lag_seconds``.

Jobs run as tasks on the serving event loop; stopping the emulator cancels unfinished ones (they
keep their last status).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crmsync.emulators.klaviyo.errors import ApiError, invalid
from crmsync.emulators.klaviyo.ids import IdFactory, now
from crmsync.emulators.klaviyo.store import Store
from crmsync.emulators.klaviyo.validation import (
    UPSERT_FIELDS,
    patch_ops,
    profile_attributes,
    require_identifier,
)

CHUNK = 1000
CATALOG_CHUNK = 25
SUPPRESSION_CHUNK = 100
#: "The maximum number of jobs in progress at one time is 500." (catalog bulk job operations)
MAX_CATALOG_IN_PROGRESS = 500
RETENTION = timedelta(days=30)


@dataclass(slots=True)
class ImportFailure:
    id: str
    code: str
    title: str
    detail: str
    pointer: str
    original_payload: dict[str, Any]


@dataclass(slots=True)
class BulkJob:
    id: str
    created_at: datetime
    expires_at: datetime
    payload: list[dict[str, Any]]
    list_ids: list[str]
    status: str = "queued"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    completed_count: int = 0
    failed_count: int = 0
    profile_ids: dict[str, None] = field(default_factory=dict)  # ordered set
    errors: list[ImportFailure] = field(default_factory=list)

    @property
    def total_count(self) -> int:
        return len(self.payload)


@dataclass(slots=True)
class JobError:
    """One failed member of a catalog bulk job (``APIJobErrorPayload`` in the spec)."""

    id: str
    code: str
    title: str
    detail: str
    pointer: str


@dataclass(slots=True)
class CatalogJob:
    """A catalog bulk create/update/delete job; ``kind`` is its JSON:API type."""

    id: str
    kind: str  # e.g. "catalog-item-bulk-create-job"
    created_at: datetime
    expires_at: datetime
    payload: list[dict[str, Any]]
    resource_ids: list[str]  # the item/category ids the job names, in request order
    status: str = "queued"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    completed_count: int = 0
    failed_count: int = 0
    errors: list[JobError] = field(default_factory=list)

    @property
    def total_count(self) -> int:
        return len(self.payload)

    @property
    def in_progress(self) -> bool:
        return self.status in ("queued", "processing")


#: Processes member ``index`` of a catalog job (raising ApiError marks it failed).
MemberProcessor = Callable[[CatalogJob, int], None]


@dataclass(slots=True)
class SuppressionJob:
    """A bulk suppress / unsuppress job; ``kind`` is its JSON:API type."""

    id: str
    kind: str  # profile-suppression-bulk-create-job | profile-suppression-bulk-delete-job
    created_at: datetime
    emails: list[str]  # the emails named in the request, or the list's members' at submission
    list_id: str | None = None
    segment_id: str | None = None
    status: str = "queued"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    completed_count: int = 0
    skipped_count: int = 0

    @property
    def total_count(self) -> int:
        return len(self.emails)


#: Applies member ``index`` of a suppression job; False when it was skipped (nothing to change).
SuppressionProcessor = Callable[[SuppressionJob, int], bool]


class JobManager:
    """Owns the jobs and the asyncio tasks that advance them on the server's loop."""

    def __init__(self, store: Store, ids: IdFactory, step_seconds: float) -> None:
        self.store = store
        self.ids = ids
        self.step_seconds = step_seconds
        self.jobs: dict[str, BulkJob] = {}
        self.catalog_jobs: dict[str, CatalogJob] = {}
        self.suppression_jobs: dict[str, SuppressionJob] = {}
        self.max_catalog_in_progress = MAX_CATALOG_IN_PROGRESS
        self.processing_lag = 0.0  # seconds before a 202 without a job resource takes effect
        self._tasks: set[asyncio.Task[None]] = set()

    def job(self, job_id: str) -> BulkJob:
        found = self.jobs.get(job_id)
        if found is None:
            raise ApiError(404, "not_found", f"A bulk profile import job with id {job_id} does not exist.")
        return found

    def submit(self, profiles: list[dict[str, Any]], list_ids: list[str]) -> BulkJob:
        moment = now()
        job = BulkJob(self.ids.ulid(), moment, moment + RETENTION, profiles, list_ids)
        with self.store.lock:
            self.jobs[job.id] = job
        self._spawn(self._run(job), f"klaviyo-bulk-import-{job.id}")
        return job

    def catalog_job(self, kind: str, job_id: str) -> CatalogJob:
        found = self.catalog_jobs.get(job_id)
        if found is None or found.kind != kind:
            raise ApiError(404, "not_found", f"A {kind} with id {job_id} does not exist.")
        return found

    def submit_catalog(
        self, kind: str, payload: list[dict[str, Any]], resource_ids: list[str], process: MemberProcessor
    ) -> CatalogJob:
        """Queue a catalog bulk job; 429 when ``max_catalog_in_progress`` jobs are already running."""
        with self.store.lock:
            running = sum(1 for job in self.catalog_jobs.values() if job.in_progress)
        if running >= self.max_catalog_in_progress:
            raise ApiError(
                429,
                "throttled",
                f"The maximum number of jobs in progress at one time is {self.max_catalog_in_progress}.",
                headers={"Retry-After": str(max(1, round(self.step_seconds)))},
            )
        moment = now()
        job = CatalogJob(self.ids.ulid(), kind, moment, moment + RETENTION, payload, resource_ids)
        with self.store.lock:
            self.catalog_jobs[job.id] = job
        self._spawn(self._run_catalog(job, process), f"klaviyo-{kind}-{job.id}")
        return job

    def suppression_job(self, kind: str, job_id: str) -> SuppressionJob:
        found = self.suppression_jobs.get(job_id)
        if found is None or found.kind != kind:
            raise ApiError(404, "not_found", f"A {kind} with id {job_id} does not exist.")
        return found

    def submit_suppression(self, job: SuppressionJob, process: SuppressionProcessor) -> SuppressionJob:
        with self.store.lock:
            self.suppression_jobs[job.id] = job

        def step(index: int) -> None:
            applied = process(job, index)
            with self.store.lock:
                if applied:
                    job.completed_count += 1
                else:
                    job.skipped_count += 1

        self._spawn(self._advance(job, step, SUPPRESSION_CHUNK), f"klaviyo-{job.kind}-{job.id}")
        return job

    def later(self, delay: float, action: Callable[[], None], name: str) -> None:
        """Run ``action`` after ``delay`` seconds on the serving loop; at once when ``delay <= 0``."""
        if delay <= 0:
            action()
            return

        async def run() -> None:
            await asyncio.sleep(delay)
            action()

        self._spawn(run(), name)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, job: BulkJob) -> None:
        await self._advance(job, lambda index: self._process(job, job.payload[index]), CHUNK)

    async def _run_catalog(self, job: CatalogJob, process: MemberProcessor) -> None:
        def step(index: int) -> None:
            try:
                process(job, index)
            except ApiError as exc:
                with self.store.lock:
                    job.errors.append(
                        JobError(self.ids.uuid(), exc.code, exc.title, exc.detail, exc.pointer or "/data")
                    )
                    job.failed_count += 1
                return
            with self.store.lock:
                job.completed_count += 1

        await self._advance(job, step, CATALOG_CHUNK)

    async def _advance(
        self, job: BulkJob | CatalogJob | SuppressionJob, step: Callable[[int], None], chunk: int
    ) -> None:
        """queued -> (one tick) processing -> ``chunk`` members per tick -> complete."""
        await asyncio.sleep(self.step_seconds)
        job.status = "processing"
        job.started_at = now()
        for start in range(0, job.total_count, chunk):
            for index in range(start, min(start + chunk, job.total_count)):
                step(index)
            await asyncio.sleep(self.step_seconds)
        job.completed_at = now()
        job.status = "complete"

    def _process(self, job: BulkJob, item: dict[str, Any]) -> None:
        try:
            attrs = profile_attributes(item.get("attributes"), allowed=UPSERT_FIELDS)
            ops = patch_ops(item.get("meta"), "/data/meta")
            profile_id = item.get("id")
            if not profile_id:
                require_identifier(attrs)
            elif not isinstance(profile_id, str):
                raise invalid("'id' must be a string.", pointer="/data/id")
            profile, _ = self.store.upsert(attrs, ops, profile_id or None)
        except ApiError as exc:
            with self.store.lock:
                job.errors.append(
                    ImportFailure(
                        self.ids.uuid(), exc.code, exc.title, exc.detail, exc.pointer or "/data", item
                    )
                )
                job.failed_count += 1
            return
        for list_id in job.list_ids:
            klist = self.store.lists.get(list_id)
            if klist is not None:
                self.store.add_to_list(klist, profile)
        with self.store.lock:
            job.profile_ids[profile.id] = None
            job.completed_count += 1
