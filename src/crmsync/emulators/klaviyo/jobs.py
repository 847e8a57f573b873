"""Bulk profile import jobs: accepted synchronously (202), processed asynchronously in chunks.

A job is ``queued`` when created, becomes ``processing`` after one ``job_step_seconds`` tick, then
processes ``CHUNK`` profiles per tick with the same create-or-update semantics as
``POST /api/profile-import``; ``completed_count`` and ``failed_count`` grow as it goes, and it ends
``complete``. A profile that fails validation or matches two different profiles becomes an
import error (``GET .../import-errors``) instead of failing the job.

Jobs run as tasks on the serving event loop; stopping the emulator cancels unfinished ones (they
keep their last status).
"""

from __future__ import annotations

import asyncio
import contextlib
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


class JobManager:
    """Owns the jobs and the asyncio tasks that advance them on the server's loop."""

    def __init__(self, store: Store, ids: IdFactory, step_seconds: float) -> None:
        self.store = store
        self.ids = ids
        self.step_seconds = step_seconds
        self.jobs: dict[str, BulkJob] = {}
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
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"klaviyo-bulk-import-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, job: BulkJob) -> None:
        await asyncio.sleep(self.step_seconds)
        job.status = "processing"
        job.started_at = now()
        for start in range(0, job.total_count, CHUNK):
            for index in range(start, min(start + CHUNK, job.total_count)):
                self._process(job, job.payload[index])
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
