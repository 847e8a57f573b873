"""Bulk sync jobs (seed 004's ``POST /sync/{entity}``): one running job per flow and entity.

The lock is a lease (``job:<flow>:<kind>``) that the running worker renews with a heartbeat — a
job whose worker crashed never leaves a stuck lock: its lease expires, and the next start (or any
``crmsync run`` worker's housekeeping) adopts the job and resumes it from its checkpointed keyset
cursor. The heartbeat also stores the progress counts and picks up a stop request made through any
worker (``POST /sync/{entity}/stop`` sets a flag in the store), so the job stops at a clean
checkpoint. The CLI's ``crmsync sync`` runs through the same jobs, so a CLI run and an API run of
the same entity never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmsync.engine import BulkProgress, Flow, SyncStats
from crmsync.errors import CrmsyncError, Recovery
from crmsync.store import StateStore, SyncJob

if TYPE_CHECKING:
    from crmsync.service import Service

log = logging.getLogger("crmsync.jobs")

HEARTBEAT_MAX_S = 1.0  # a running job's heartbeat is never further apart than this
MAX_ERRORS = 100  # failures kept on the job record (every one is a dead letter anyway)
Progress = Callable[[SyncJob, BulkProgress], Awaitable[None] | None]


class JobConflictError(CrmsyncError):
    """A job of this flow and entity is already running (HTTP 409)."""

    recovery = Recovery.PERMANENT

    def __init__(self, job: SyncJob | None, flow: str, kind: str) -> None:
        what = f"job {job.id}" if job is not None else "a job"
        super().__init__(f"a {kind} sync of flow {flow} is already running ({what})")
        self.job = job


class NoRunningJobError(CrmsyncError):
    recovery = Recovery.PERMANENT


def job_view(job: SyncJob) -> dict[str, Any]:
    """The job as the API and ``--json`` show it."""
    out = asdict(job)
    ids = out.pop("ids")
    out["ids_count"] = None if ids is None else len(ids)
    out["entity"] = out.pop("kind")
    for key in ("created_at", "heartbeat_at", "finished_at"):
        value = out[key]
        out[key] = value.isoformat() if value is not None else None
    return out


class SyncJobs:
    def __init__(self, service: Service, owner: str) -> None:
        self._svc = service
        self._owner = owner
        self._tasks: dict[int, asyncio.Task[SyncJob]] = {}
        self._stops: dict[int, asyncio.Event] = {}

    @property
    def store(self) -> StateStore:
        return self._svc.store

    @staticmethod
    def lease_name(flow: Flow) -> str:
        return f"job:{flow.name}:{flow.kind}"

    def start(
        self,
        entity: str,
        *,
        ids: list[str] | None = None,
        restart: bool = False,
        flow_name: str | None = None,
        progress: Progress | None = None,
    ) -> SyncJob:
        """Start (or, when its worker died, resume) the entity's job; raise JobConflictError if one runs."""
        from crmsync.service import entity_kind

        flow = self._svc.flow(entity_kind(entity), flow_name)
        mine = [j for j in self._running() if (j.flow, j.kind) == (flow.name, flow.kind)]
        if mine:  # this worker runs it (the lease is ours, so taking it again would succeed)
            raise JobConflictError(mine[0], flow.name, flow.kind)
        if not self.store.lease_acquire([self.lease_name(flow)], self._owner, flow.lease_ttl):
            raise JobConflictError(self.store.job_active(flow.name, flow.kind), flow.name, flow.kind)
        try:
            orphan = self.store.job_active(flow.name, flow.kind)
            if orphan is not None and orphan.id not in self._tasks:
                # Its worker died (the lease was free): this start resumes it from the checkpoint.
                job = self.store.job_adopt(orphan.id, self._owner) or orphan
                log.info("resuming %s sync job %d of flow %s", flow.kind, job.id, flow.name)
                resume = True
            else:
                job = self.store.job_create(
                    flow.name, flow.kind, self._owner, ids=list(dict.fromkeys(ids)) if ids else None,
                    restart=restart,
                )  # fmt: skip
                resume = not restart
        except BaseException:
            self.store.lease_release([self.lease_name(flow)], self._owner)
            raise
        stop = self._stops[job.id] = asyncio.Event()
        if job.stop_requested:
            stop.set()
        self._tasks[job.id] = asyncio.create_task(self._run(job, flow, resume, stop, progress))
        return job

    def _running(self) -> list[SyncJob]:
        jobs = (self.store.job_get(job_id) for job_id in self._tasks)
        return [j for j in jobs if j is not None]

    async def run(self, entity: str, **kwargs: Any) -> SyncJob:
        """Start the job and wait for it to end (the CLI).

        A conflicting job whose heartbeat stops advancing (its worker was killed a moment ago) is
        waited for until its lease expires, then resumed, instead of failing the command; one
        whose heartbeat advances is alive, and the conflict is raised.
        """
        seen: datetime | None = None
        while True:
            try:
                job = self.start(entity, **kwargs)
                break
            except JobConflictError as exc:
                other = exc.job
                if other is None or (seen is not None and other.heartbeat_at > seen):
                    raise
                seen = other.heartbeat_at
                await asyncio.sleep(HEARTBEAT_MAX_S * 1.5)
        return await self.wait(job.id)

    async def wait(self, job_id: int) -> SyncJob:
        task = self._tasks.get(job_id)
        if task is None:
            job = self.store.job_get(job_id)
            if job is None:
                raise NoRunningJobError(f"no sync job {job_id}")
            return job
        return await asyncio.shield(task)

    def stop(self, entity: str, *, flow_name: str | None = None) -> SyncJob:
        """Ask the entity's running job to stop at its next checkpoint (any worker may run it)."""
        from crmsync.service import entity_kind

        flow = self._svc.flow(entity_kind(entity), flow_name)
        active = self.store.job_active(flow.name, flow.kind)
        job = self.store.job_request_stop(active.id) if active is not None else None
        if job is None:
            raise NoRunningJobError(f"no {flow.kind} sync of flow {flow.name} is running")
        if job.id in self._stops:
            self._stops[job.id].set()
        return job

    def status(self) -> dict[str, dict[str, Any]]:
        """Per flow and entity: the running job (if any) and the last one."""
        out: dict[str, dict[str, Any]] = {}
        for (name, kind), _flow in self._svc.flows.items():
            jobs = self.store.job_list(flow=name, kind=kind, limit=1)
            active = self.store.job_active(name, kind)
            out[f"{name}:{kind}"] = {
                "flow": name,
                "entity": kind,
                "running": job_view(active) if active is not None else None,
                "last": job_view(jobs[0]) if jobs else None,
            }
        return out

    def resume_orphans(self) -> list[int]:
        """Adopt jobs whose worker died (lease expired); returns the ids resumed here."""
        resumed: list[int] = []
        for (name, kind), flow in self._svc.flows.items():
            orphan = self.store.job_active(name, kind)
            if orphan is None or orphan.id in self._tasks:
                continue
            with contextlib.suppress(JobConflictError):
                resumed.append(self.start(kind, flow_name=flow.name).id)
        return resumed

    async def aclose(self) -> None:
        """Stop this worker's jobs at a checkpoint (they stay resumable) and wait for them."""
        for event in self._stops.values():
            event.set()
        for task in list(self._tasks.values()):
            with contextlib.suppress(Exception):
                await task

    async def _run(
        self, job: SyncJob, flow: Flow, resume: bool, stop: asyncio.Event, progress: Progress | None
    ) -> SyncJob:
        stats = SyncStats()
        last: dict[str, Any] = dict(job.counts)

        def counts() -> dict[str, Any]:
            return {**last, **{k: v for k, v in stats.as_dict().items() if not k.startswith("latency")}}

        def errors() -> list[dict[str, Any]]:
            return [asdict(f) for f in stats.failures[:MAX_ERRORS]]

        async def on_progress(snap: BulkProgress) -> None:
            last.update(phase=snap.phase, batch_done=snap.batch_done, batch_total=snap.batch_total)
            if progress is not None:
                res = progress(job, snap)
                if asyncio.iscoroutine(res):
                    await res

        beat = asyncio.create_task(self._heartbeat(job.id, flow, stop, counts, errors))
        status, error = "failed", None
        try:
            complete, _ = await self._svc.sync(
                flow.kind,
                ids=job.ids,
                flow_name=flow.name,
                progress=on_progress,
                stop=stop,
                resume=resume,
                stats=stats,
            )
            status = "completed" if complete else "stopped"
        except asyncio.CancelledError:
            status = "stopped"
            raise
        except Exception as exc:
            error = {"record_key": None, "reason": f"{type(exc).__name__}: {exc}", "recovery": "job"}
            log.exception("%s sync job %d failed", flow.kind, job.id)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            final_errors = errors() + ([error] if error else [])
            done = self.store.job_finish(job.id, status, counts(), final_errors) or job
            self.store.lease_release([self.lease_name(flow)], self._owner)
            self._stops.pop(job.id, None)
            self._tasks.pop(job.id, None)
        return done

    async def _heartbeat(
        self,
        job_id: int,
        flow: Flow,
        stop: asyncio.Event,
        counts: Callable[[], dict[str, Any]],
        errors: Callable[[], list[dict[str, Any]]],
    ) -> None:
        interval = max(0.05, flow.lease_ttl.total_seconds() / 3)
        while True:
            await asyncio.sleep(min(interval, HEARTBEAT_MAX_S))
            try:
                if not self.store.lease_acquire([self.lease_name(flow)], self._owner, flow.lease_ttl):
                    log.error("sync job %d lost its lease (stalled longer than one); stopping", job_id)
                    stop.set()
                    return
                job = self.store.job_progress(job_id, counts(), errors())
            except Exception:
                log.warning("sync job %d heartbeat failed; retrying", job_id, exc_info=True)
                continue
            if job is not None and job.stop_requested:
                stop.set()
