"""Bulk sync jobs: the record of each run started from the HTTP API or the CLI.

Exclusivity is not kept here but by a lease (``job:<flow>:<kind>``, see :mod:`._leases`) that the
running worker renews; this table is what operators see — status, progress counts, errors — and
what a restarted worker finds when it resumes a job whose owner died.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crmsync.store._base import StoreBase, utcnow
from crmsync.store.errors import InvalidValueError
from crmsync.store.schema import sync_jobs
from crmsync.store.types import ACTIVE_JOB_STATUSES, SYNC_JOB_STATUSES, JSONDict, SyncJob

_COLUMNS = [
    sync_jobs.c.id,
    sync_jobs.c.flow,
    sync_jobs.c.kind,
    sync_jobs.c.status,
    sync_jobs.c.ids,
    sync_jobs.c.restart,
    sync_jobs.c.owner,
    sync_jobs.c.created_at,
    sync_jobs.c.heartbeat_at,
    sync_jobs.c.finished_at,
    sync_jobs.c.stop_requested,
    sync_jobs.c.counts,
    sync_jobs.c.errors,
    sync_jobs.c.resumes,
]


def _job(row: Any) -> SyncJob:
    return SyncJob(*row)


class JobsMixin(StoreBase):
    def job_create(
        self, flow: str, kind: str, owner: str, *, ids: list[str] | None = None, restart: bool = False
    ) -> SyncJob:
        now = utcnow()
        values: dict[str, Any] = {
            "flow": flow,
            "kind": kind,
            "status": "running",
            "ids": ids,
            "restart": restart,
            "owner": owner,
            "created_at": now,
            "heartbeat_at": now,
            "stop_requested": False,
            "counts": {},
            "errors": [],
            "resumes": 0,
        }
        with self._write("job_create") as conn:
            row = conn.execute(sync_jobs.insert().values(values).returning(*_COLUMNS)).one()
        return _job(row)

    def job_get(self, job_id: int) -> SyncJob | None:
        with self._read("job_get") as conn:
            row = conn.execute(sa.select(*_COLUMNS).where(sync_jobs.c.id == job_id)).first()
        return _job(row) if row is not None else None

    def job_list(
        self, *, flow: str | None = None, kind: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[SyncJob]:
        """Jobs, newest first."""
        query = sa.select(*_COLUMNS).order_by(sync_jobs.c.id.desc()).limit(limit)
        if flow is not None:
            query = query.where(sync_jobs.c.flow == flow)
        if kind is not None:
            query = query.where(sync_jobs.c.kind == kind)
        if status is not None:
            if status not in SYNC_JOB_STATUSES:
                raise InvalidValueError(
                    f"unknown job status {status!r}; expected one of {list(SYNC_JOB_STATUSES)}"
                )
            query = query.where(sync_jobs.c.status == status)
        with self._read("job_list") as conn:
            return [_job(r) for r in conn.execute(query)]

    def job_active(self, flow: str, kind: str) -> SyncJob | None:
        """The newest job of (flow, kind) that has not ended (running or stopping), if any."""
        query = (
            sa.select(*_COLUMNS)
            .where(
                sync_jobs.c.flow == flow,
                sync_jobs.c.kind == kind,
                sync_jobs.c.status.in_(ACTIVE_JOB_STATUSES),
            )
            .order_by(sync_jobs.c.id.desc())
            .limit(1)
        )
        with self._read("job_active") as conn:
            row = conn.execute(query).first()
        return _job(row) if row is not None else None

    def job_progress(self, job_id: int, counts: JSONDict, errors: list[JSONDict]) -> SyncJob | None:
        """Heartbeat: store the progress; returns the job (its ``stop_requested`` may have changed)."""
        with self._write("job_progress") as conn:
            row = conn.execute(
                sync_jobs.update()
                .where(sync_jobs.c.id == job_id)
                .values(counts=counts, errors=errors, heartbeat_at=utcnow())
                .returning(*_COLUMNS)
            ).first()
        return _job(row) if row is not None else None

    def job_adopt(self, job_id: int, owner: str) -> SyncJob | None:
        """A worker resumes a job whose owner died: it becomes the owner, ``resumes`` counts it."""
        with self._write("job_adopt") as conn:
            row = conn.execute(
                sync_jobs.update()
                .where(sync_jobs.c.id == job_id, sync_jobs.c.status.in_(ACTIVE_JOB_STATUSES))
                .values(owner=owner, heartbeat_at=utcnow(), resumes=sync_jobs.c.resumes + 1)
                .returning(*_COLUMNS)
            ).first()
        return _job(row) if row is not None else None

    def job_request_stop(self, job_id: int) -> SyncJob | None:
        """Ask a running job to stop at its next clean checkpoint; None when it is not active."""
        with self._write("job_request_stop") as conn:
            row = conn.execute(
                sync_jobs.update()
                .where(sync_jobs.c.id == job_id, sync_jobs.c.status.in_(ACTIVE_JOB_STATUSES))
                .values(stop_requested=True, status="stopping")
                .returning(*_COLUMNS)
            ).first()
        return _job(row) if row is not None else None

    def job_finish(
        self, job_id: int, status: str, counts: JSONDict, errors: list[JSONDict]
    ) -> SyncJob | None:
        if status not in ("stopped", "completed", "failed"):
            raise InvalidValueError(f"a job finishes as stopped, completed or failed, not {status!r}")
        now = utcnow()
        with self._write("job_finish") as conn:
            row = conn.execute(
                sync_jobs.update()
                .where(sync_jobs.c.id == job_id)
                .values(status=status, counts=counts, errors=errors, heartbeat_at=now, finished_at=now)
                .returning(*_COLUMNS)
            ).first()
        return _job(row) if row is not None else None
