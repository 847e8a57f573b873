"""Bulk suppress / unsuppress profiles: submit (202 + job), get one job, list jobs.

``POST /api/profile-suppression-bulk-create-jobs`` (bulk_suppress_profiles) suppresses emails with
reason ``USER_SUPPRESSED`` — "If a profile is not found with the given email, one will be created and
immediately suppressed" — or "all current members of a segment/list". ``POST
/api/profile-suppression-bulk-delete-jobs`` (bulk_unsuppress_profiles) "only removes suppressions with
reason USER_SUPPRESSED"; an unknown email is skipped ("no action will be taken"). "Email address per
request limit: 100".

Both answer 202 with the job (``PostBulkProfileSuppressions{Create,Remove}JobResponse``: ``status``,
``created_at``, ``total_count``, ``completed_count``, ``completed_at``, ``skipped_count`` and ``lists``
/ ``segments`` relationships). Jobs run queued → processing → complete (:mod:`.jobs`); an email that
needs no change counts as skipped. The GET collections take ``filter`` (``status``, ``list_id``,
``segment_id``: equals), ``sort`` (``created``/``-created``), ``page[cursor]`` and
``fields[<job type>]``; the spec gives them no ``page[size]``, so pages hold :data:`PAGE_SIZE` jobs.
Segments are not modelled: naming one is a 404.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crmsync.emulators.klaviyo import consent_apply, filters, query, render
from crmsync.emulators.klaviyo.consent_validation import suppression_request
from crmsync.emulators.klaviyo.context import MB, base_url, context, read_json, respond
from crmsync.emulators.klaviyo.errors import not_found
from crmsync.emulators.klaviyo.filters import spec
from crmsync.emulators.klaviyo.ids import iso, now
from crmsync.emulators.klaviyo.jobs import SuppressionJob
from crmsync.emulators.klaviyo.validation import resource

SUPPRESS_TYPE = "profile-suppression-bulk-create-job"
UNSUPPRESS_TYPE = "profile-suppression-bulk-delete-job"
PAGE_SIZE = 20
MAX_REQUEST_BYTES = 5 * MB
JOB_FIELDS = ("completed_at", "completed_count", "created_at", "id", "skipped_count", "status", "total_count")
JOB_FILTERS = {"status": spec("equals"), "list_id": spec("equals"), "segment_id": spec("equals")}


def _collection(kind: str) -> str:
    return f"{kind}s"


def job_resource(job: SuppressionJob, base: str, fields: list[str] | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "status": job.status,
        "created_at": iso(job.created_at),
        "total_count": job.total_count,
        "completed_count": job.completed_count,
        "completed_at": iso(job.completed_at),
        "skipped_count": job.skipped_count,
    }
    if fields is not None:
        attrs = render.project(attrs, [f for f in fields if f != "id"])
    path = _collection(job.kind)
    return {
        "type": job.kind,
        "id": job.id,
        "attributes": attrs,
        "relationships": {
            "lists": {
                "data": [{"type": "list", "id": job.list_id}] if job.list_id else [],
                "links": render.rel_links(base, path, job.id, "lists"),
            },
            "segments": {
                "data": [{"type": "segment", "id": job.segment_id}] if job.segment_id else [],
                "links": render.rel_links(base, path, job.id, "segments"),
            },
        },
        "links": {"self": f"{base}/api/{path}/{job.id}/"},
    }


def _fields(request: web.Request, kind: str) -> list[str] | None:
    return query.parse_list(request.query, f"fields[{kind}]", JOB_FIELDS)


async def _submit(request: web.Request, kind: str) -> web.Response:
    ctx = context(request)
    fields = _fields(request, kind)
    data = resource(await read_json(request, MAX_REQUEST_BYTES), kind)
    parsed = suppression_request(data)
    emails = parsed.emails
    if parsed.segment_id is not None:
        raise not_found(f"A segment with id {parsed.segment_id} does not exist.")
    if parsed.list_id is not None:
        klist = ctx.store.klist(parsed.list_id)
        with ctx.store.lock:
            members = [ctx.store.profiles.get(pid) for pid in klist.members]
        emails = [str(p.attributes["email"]) for p in members if p is not None and p.attributes.get("email")]
    job = SuppressionJob(ctx.ids.ulid(), kind, now(), emails, parsed.list_id, parsed.segment_id)
    store = ctx.store
    if kind == SUPPRESS_TYPE:
        ctx.jobs.submit_suppression(job, lambda j, i: consent_apply.suppress_email(store, j.emails[i]))
    else:
        ctx.jobs.submit_suppression(job, lambda j, i: consent_apply.unsuppress_email(store, j.emails[i]))
    base = base_url(request)
    doc = {"data": job_resource(job, base, fields), "links": {"self": f"{base}/api/{_collection(kind)}/"}}
    return respond(doc, 202)


async def _get_one(request: web.Request, kind: str) -> web.Response:
    ctx = context(request)
    job = ctx.jobs.suppression_job(kind, request.match_info["job_id"])
    base = base_url(request)
    doc = {
        "data": job_resource(job, base, _fields(request, kind)),
        "links": {"self": f"{base}/api/{_collection(kind)}/{job.id}/"},
    }
    return respond(doc)


async def _get_many(request: web.Request, kind: str) -> web.Response:
    ctx = context(request)
    q = request.query
    sort, descending = query.parse_sort(q, ("created",), "created")
    raw_filter = q.get("filter")
    compiled = filters.compile_filter(raw_filter, JOB_FILTERS, kind) if raw_filter is not None else None
    cursor = query.decode_cursor(q, sort)
    fields = _fields(request, kind)
    with ctx.store.lock:
        jobs = [j for j in ctx.jobs.suppression_jobs.values() if j.kind == kind]

    def accept(job: SuppressionJob) -> bool:
        values = {"status": job.status, "list_id": job.list_id, "segment_id": job.segment_id}
        return compiled is None or compiled.predicate(values.get)

    def key(job: SuppressionJob) -> query.SortKey:
        return (*query.sort_value(job.created_at), job.id)

    page = query.keyset_page(
        [j for j in jobs if accept(j)],
        key,
        size=PAGE_SIZE,
        descending=descending,
        after=cursor.key if cursor else None,
    )
    base = base_url(request)
    doc = render.document(
        [job_resource(j, base, fields) for j in page.items],
        str(request.url),
        next_link=query.next_link(request, sort, page.next_key),
    )
    return respond(doc)


async def bulk_suppress_profiles(request: web.Request) -> web.Response:
    return await _submit(request, SUPPRESS_TYPE)


async def bulk_unsuppress_profiles(request: web.Request) -> web.Response:
    return await _submit(request, UNSUPPRESS_TYPE)


async def get_bulk_suppress_profiles_job(request: web.Request) -> web.Response:
    return await _get_one(request, SUPPRESS_TYPE)


async def get_bulk_unsuppress_profiles_job(request: web.Request) -> web.Response:
    return await _get_one(request, UNSUPPRESS_TYPE)


async def get_bulk_suppress_profiles_jobs(request: web.Request) -> web.Response:
    return await _get_many(request, SUPPRESS_TYPE)


async def get_bulk_unsuppress_profiles_jobs(request: web.Request) -> web.Response:
    return await _get_many(request, UNSUPPRESS_TYPE)


_SUPPRESS = "/api/profile-suppression-bulk-create-jobs"
_UNSUPPRESS = "/api/profile-suppression-bulk-delete-jobs"
#: (method, path, operationId, handler) rows for app.ROUTES.
ROUTES = (
    ("GET", _SUPPRESS, "get_bulk_suppress_profiles_jobs", get_bulk_suppress_profiles_jobs),
    ("POST", _SUPPRESS, "bulk_suppress_profiles", bulk_suppress_profiles),
    ("GET", _SUPPRESS + "/{job_id}", "get_bulk_suppress_profiles_job", get_bulk_suppress_profiles_job),
    ("GET", _UNSUPPRESS, "get_bulk_unsuppress_profiles_jobs", get_bulk_unsuppress_profiles_jobs),
    ("POST", _UNSUPPRESS, "bulk_unsuppress_profiles", bulk_unsuppress_profiles),
    ("GET", _UNSUPPRESS + "/{job_id}", "get_bulk_unsuppress_profiles_job", get_bulk_unsuppress_profiles_job),
)
