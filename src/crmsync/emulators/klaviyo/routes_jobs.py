"""Bulk profile import jobs: submit (202), poll one, list, import errors, imported profiles.

Limits from the spec: at most 10,000 profiles per job, 5 MB per request, 100 KB per profile. A
request over 5 MB is refused with 413 before parsing; a job with too many profiles, or one profile
over 100 KB, is a 400 naming the member. Everything else about a profile (bad email, bad phone,
missing identifier, identifiers of two different profiles) is reported per profile as an import
error while the rest of the job proceeds.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crmsync.emulators.klaviyo import filters, query, render
from crmsync.emulators.klaviyo.context import KB, MB, base_url, context, read_json, respond
from crmsync.emulators.klaviyo.errors import invalid
from crmsync.emulators.klaviyo.filters import spec
from crmsync.emulators.klaviyo.ids import iso
from crmsync.emulators.klaviyo.jobs import BulkJob, ImportFailure
from crmsync.emulators.klaviyo.routes_profiles import additional_param, fields_param
from crmsync.emulators.klaviyo.validation import encoded_size, resource

JOB_TYPE = "profile-bulk-import-job"
MAX_PROFILES = 10_000
MAX_REQUEST_BYTES = 5 * MB
MAX_PROFILE_BYTES = 100 * KB
JOB_FIELDS = (
    "completed_at",
    "completed_count",
    "created_at",
    "expires_at",
    "failed_count",
    "id",
    "started_at",
    "status",
    "total_count",
)
JOB_FILTERS = {"status": spec("any equals")}


def job_resource(job: BulkJob, base: str, fields: list[str] | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "status": job.status,
        "created_at": iso(job.created_at),
        "total_count": job.total_count,
        "completed_count": job.completed_count,
        "failed_count": job.failed_count,
        "completed_at": iso(job.completed_at),
        "expires_at": iso(job.expires_at),
        "started_at": iso(job.started_at),
    }
    if fields is not None:
        attrs = render.project(attrs, [f for f in fields if f != "id"])
    return {
        "type": JOB_TYPE,
        "id": job.id,
        "attributes": attrs,
        "relationships": {
            "lists": {
                "data": [{"type": "list", "id": lid} for lid in job.list_ids],
                "links": render.rel_links(base, "profile-bulk-import-jobs", job.id, "lists"),
            },
            "profiles": {"links": render.rel_links(base, "profile-bulk-import-jobs", job.id, "profiles")},
            "import-errors": {
                "links": {"related": f"{base}/api/profile-bulk-import-jobs/{job.id}/import-errors/"}
            },
        },
        "links": {"self": f"{base}/api/profile-bulk-import-jobs/{job.id}/"},
    }


def _profiles(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    container = attributes.get("profiles")
    if not isinstance(container, dict) or not isinstance(container.get("data"), list):
        raise invalid(
            "'profiles' must be an object with a 'data' array.", pointer="/data/attributes/profiles"
        )
    items: list[Any] = container["data"]
    pointer = "/data/attributes/profiles/data"
    if not items:
        raise invalid("At least one profile is required.", pointer=pointer)
    if len(items) > MAX_PROFILES:
        raise invalid(f"A job accepts at most {MAX_PROFILES} profiles; got {len(items)}.", pointer=pointer)
    for index, item in enumerate(items):
        where = f"{pointer}/{index}"
        if not isinstance(item, dict):
            raise invalid("Each profile must be a resource object.", pointer=where)
        if item.get("type") != "profile":
            raise invalid("Each profile must have type 'profile'.", pointer=f"{where}/type")
        if encoded_size(item) > MAX_PROFILE_BYTES:
            raise invalid("The maximum allowed payload size per profile is 100KB.", pointer=where)
    return items


def _list_ids(data: dict[str, Any], request: web.Request) -> list[str]:
    relationships = data.get("relationships")
    if relationships is None:
        return []
    lists = relationships.get("lists") if isinstance(relationships, dict) else None
    if lists is None:
        return []
    entries = lists.get("data") if isinstance(lists, dict) else None
    pointer = "/data/relationships/lists/data"
    if not isinstance(entries, list):
        raise invalid("'lists' must be an object with a 'data' array.", pointer=pointer)
    store = context(request).store
    out: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("type") != "list" or not isinstance(entry.get("id"), str):
            raise invalid("Each list must be {'type': 'list', 'id': ...}.", pointer=f"{pointer}/{index}")
        store.klist(entry["id"])  # 404 for an unknown list
        out.append(entry["id"])
    return out


async def bulk_import_profiles(request: web.Request) -> web.Response:
    ctx = context(request)
    data = resource(await read_json(request, MAX_REQUEST_BYTES), JOB_TYPE)
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid("'attributes' is required.", pointer="/data/attributes")
    profiles = _profiles(attributes)
    list_ids = _list_ids(data, request)
    job = ctx.jobs.submit(profiles, list_ids)
    base = base_url(request)
    return respond(
        {"data": job_resource(job, base), "links": {"self": f"{base}/api/profile-bulk-import-jobs/"}}, 202
    )


def _fields(request: web.Request) -> list[str] | None:
    return query.parse_list(request.query, f"fields[{JOB_TYPE}]", JOB_FIELDS)


async def get_bulk_import_profiles_job(request: web.Request) -> web.Response:
    ctx = context(request)
    job = ctx.jobs.job(request.match_info["job_id"])
    query.parse_list(request.query, "include", ("lists",))
    base = base_url(request)
    doc: dict[str, Any] = {
        "data": job_resource(job, base, _fields(request)),
        "links": {"self": f"{base}/api/profile-bulk-import-jobs/{job.id}/"},
    }
    if request.query.get("include"):
        doc["included"] = [render.list_resource(ctx.store.lists[lid], base) for lid in job.list_ids]
    return respond(doc)


async def get_bulk_import_profiles_jobs(request: web.Request) -> web.Response:
    ctx = context(request)
    q = request.query
    size = query.page_size(q, default=20, maximum=100)
    sort, descending = query.parse_sort(q, ("created_at",), "created_at")
    raw_filter = q.get("filter")
    compiled = filters.compile_filter(raw_filter, JOB_FILTERS, JOB_TYPE) if raw_filter is not None else None
    cursor = query.decode_cursor(q, sort)
    with ctx.store.lock:
        jobs = list(ctx.jobs.jobs.values())
    matching = [j for j in jobs if compiled is None or compiled.predicate({"status": j.status}.get)]

    def key(job: BulkJob) -> query.SortKey:
        return (*query.sort_value(job.created_at), job.id)

    page = query.keyset_page(
        matching, key, size=size, descending=descending, after=cursor.key if cursor else None
    )
    base = base_url(request)
    fields = _fields(request)
    doc = render.document(
        [job_resource(j, base, fields) for j in page.items],
        str(request.url),
        next_link=query.next_link(request, sort, page.next_key),
    )
    return respond(doc)


def _import_error(failure: ImportFailure, fields: list[str] | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "code": failure.code,
        "title": failure.title,
        "detail": failure.detail,
        "source": {"pointer": failure.pointer},
        "original_payload": failure.original_payload,
    }
    if fields is not None:
        attrs = render.project(attrs, [f for f in fields if f != "id"])
    return {"type": "import-error", "id": failure.id, "attributes": attrs}


async def get_errors_for_bulk_import_profiles_job(request: web.Request) -> web.Response:
    ctx = context(request)
    job = ctx.jobs.job(request.match_info["id"])
    q = request.query
    size = query.page_size(q, default=20, maximum=100)
    fields = query.parse_list(
        q,
        "fields[import-error]",
        ("code", "detail", "id", "original_payload", "source", "source.pointer", "title"),
    )
    cursor = query.decode_cursor(q, "position")
    with ctx.store.lock:
        numbered = list(enumerate(job.errors))

    def key(item: tuple[int, ImportFailure]) -> query.SortKey:
        return (False, f"{item[0]:09d}", item[1].id)

    page = query.keyset_page(numbered, key, size=size, descending=False, after=cursor.key if cursor else None)
    doc = render.document(
        [_import_error(failure, fields) for _, failure in page.items],
        str(request.url),
        next_link=query.next_link(request, "position", page.next_key),
    )
    return respond(doc)


async def get_profiles_for_bulk_import_profiles_job(request: web.Request) -> web.Response:
    ctx = context(request)
    job = ctx.jobs.job(request.match_info["id"])
    q = request.query
    size = query.page_size(q, default=20, maximum=100)
    fields = fields_param(request)
    additional = additional_param(request)
    cursor = query.decode_cursor(q, "position")
    with ctx.store.lock:
        numbered = [
            (i, ctx.store.profiles[pid]) for i, pid in enumerate(job.profile_ids) if pid in ctx.store.profiles
        ]

    def key(item: tuple[int, Any]) -> query.SortKey:
        return (False, f"{item[0]:09d}", item[1].id)

    page = query.keyset_page(numbered, key, size=size, descending=False, after=cursor.key if cursor else None)
    base = base_url(request)
    doc = render.document(
        [render.profile_resource(p, base, fields=fields, additional=additional) for _, p in page.items],
        str(request.url),
        next_link=query.next_link(request, "position", page.next_key),
    )
    return respond(doc)
