"""The bulk sync API of seed 004: start, stop and watch sync jobs.

``POST /sync/{entity}`` answers 202 with the job (it runs in the background), 409 with the running
job when one is already running for that entity; ``POST /sync/{entity}/stop`` asks it to stop at
its next clean checkpoint (200, or 404 when nothing runs); ``GET /sync/status`` and
``GET /sync/jobs/{id}`` show progress counts and errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query
from fastapi import Path as FastPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from crmsync.errors import CrmsyncError
from crmsync.service import Service
from crmsync.sync_jobs import JobConflictError, job_view

ENTITIES = ("customers", "orders", "categories", "products")


class SyncRequest(BaseModel):
    """Optional body of ``POST /sync/{entity}``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    ids: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        default=None, min_length=1, max_length=100_000, description="only these source ids"
    )
    restart: bool = Field(default=False, description="ignore the saved checkpoint and start over")


class JobOut(BaseModel):
    id: int
    flow: str
    entity: str
    status: Literal["running", "stopping", "stopped", "completed", "failed"]
    ids_count: int | None
    restart: bool
    owner: str
    created_at: str
    heartbeat_at: str
    finished_at: str | None
    stop_requested: bool
    counts: dict[str, Any]
    errors: list[dict[str, Any]]
    resumes: int


class ConflictOut(BaseModel):
    error: Literal["conflict"]
    detail: str
    job: JobOut | None


class EntityStatus(BaseModel):
    flow: str
    entity: str
    running: JobOut | None
    last: JobOut | None


def _register(
    router: APIRouter,
    entity: str,
    start: Callable[[str, SyncRequest | None], Awaitable[Any]],
    stop: Callable[[str], Any],
) -> None:
    @router.post(
        f"/{entity}",
        status_code=202,
        response_model=JobOut,
        operation_id=f"sync_{entity}",
        summary=f"Sync all (or the given) {entity}",
        responses={
            400: {"description": "the body is not JSON"},
            404: {"description": "no flow of this deployment syncs the entity"},
            409: {"model": ConflictOut, "description": "a sync of this entity is running"},
        },
    )
    async def start_entity(body: SyncRequest | None = Body(default=None)) -> Any:
        """Start a bulk sync of every record of the entity, or only ``ids``; it runs in the background."""
        return await start(entity, body)

    @router.post(
        f"/{entity}/stop",
        response_model=JobOut,
        operation_id=f"sync_{entity}_stop",
        summary=f"Stop the running {entity} sync",
        responses={404: {"description": "nothing runs (or no flow syncs the entity)"}},
    )
    async def stop_entity() -> Any:
        """Stop the running sync at its next checkpoint (a later start resumes there)."""
        return stop(entity)


def sync_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/sync", tags=["bulk sync"])

    async def start(entity: str, body: SyncRequest | None) -> Any:
        request = body or SyncRequest()
        try:
            job = service.jobs.start(entity, ids=request.ids, restart=request.restart)
        except JobConflictError as exc:
            view = job_view(exc.job) if exc.job is not None else None
            return JSONResponse({"error": "conflict", "detail": exc.message, "job": view}, status_code=409)
        except CrmsyncError as exc:  # no flow syncs this entity
            raise HTTPException(status_code=404, detail=exc.message) from None
        return job_view(job)

    def stop(entity: str) -> Any:
        try:
            return job_view(service.jobs.stop(entity))
        except CrmsyncError as exc:  # nothing runs, or no flow syncs the entity
            raise HTTPException(status_code=404, detail=exc.message) from None

    # One route per entity (not ``/{entity}``): ``POST /sync/status`` is then a 405, not a 422.
    for entity in ENTITIES:
        _register(router, entity, start, stop)

    @router.get("/status", response_model=dict[str, EntityStatus])
    async def status() -> Any:
        """Per flow and entity: the running job and the last one, with progress counts and errors."""
        return service.jobs.status()

    @router.get("/jobs", response_model=list[JobOut])
    async def jobs(limit: Annotated[int, Query(ge=1, le=500)] = 20) -> Any:
        """The newest jobs first."""
        return [job_view(j) for j in service.store.job_list(limit=limit)]

    @router.get("/jobs/{job_id}", response_model=JobOut, responses={404: {"description": "no such job"}})
    async def job(job_id: Annotated[int, FastPath(ge=1, le=2**63 - 1)]) -> Any:
        found = service.store.job_get(job_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no sync job {job_id}")
        return job_view(found)

    return router
