"""Catalog bulk jobs: create/update/delete items and categories asynchronously.

Per the spec, each ``POST /api/catalog-{item,category}-bulk-{create,update,delete}-jobs`` accepts up to
100 members per request and 5 MB per payload, with at most 500 jobs in progress at one time, and
answers 202 with the job (``queued``). The whole request is validated first — envelope, member
count, and each member's shape and types, exactly as the single-resource endpoints validate them —
and any failure is a 400 naming the member (``/data/attributes/items/data/3/attributes/title``).
What can only be known while processing (an external id already taken, an id that does not exist)
fails that member alone: it is counted in ``failed_count`` and listed in the job's ``errors``
attribute with a pointer to the member, while the rest of the job proceeds.

``GET /api/<job-type>s/{job_id}`` polls a job (``include=items`` / ``include=categories`` for create
and update jobs); ``GET /api/<job-type>s`` lists them (``filter=equals(status,"...")``,
``page[cursor]``, 100 per page, oldest first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from crmsync.emulators.klaviyo import catalog_validation as cv
from crmsync.emulators.klaviyo import filters, query, render
from crmsync.emulators.klaviyo.catalog_render import (
    CATEGORY_FIELDS,
    ITEM_FIELDS,
    JOB_FIELDS,
    category_resource,
    item_resource,
    job_resource,
)
from crmsync.emulators.klaviyo.catalog_store import CatalogStore, compound_id
from crmsync.emulators.klaviyo.context import MB, base_url, context, read_json, respond
from crmsync.emulators.klaviyo.errors import ApiError, invalid
from crmsync.emulators.klaviyo.jobs import CatalogJob
from crmsync.emulators.klaviyo.validation import resource

MAX_MEMBERS = 100
MAX_REQUEST_BYTES = 5 * MB
JOB_FILTERS = {"status": filters.spec("equals")}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class JobKind:
    kind: str  # JSON:API type, e.g. "catalog-item-bulk-create-job"
    container: str  # "items" | "categories": attributes member and relationship name
    member_type: str  # "catalog-item" | "catalog-category"
    action: str  # create | update | delete
    submit_op: str
    list_op: str
    get_op: str

    @property
    def path(self) -> str:
        return f"/api/{self.kind}s"

    @property
    def is_item(self) -> bool:
        return self.member_type == cv.ITEM


KINDS = (
    JobKind(
        "catalog-item-bulk-create-job",
        "items",
        cv.ITEM,
        "create",
        "bulk_create_catalog_items",
        "get_bulk_create_catalog_items_jobs",
        "get_bulk_create_catalog_items_job",
    ),
    JobKind(
        "catalog-item-bulk-update-job",
        "items",
        cv.ITEM,
        "update",
        "bulk_update_catalog_items",
        "get_bulk_update_catalog_items_jobs",
        "get_bulk_update_catalog_items_job",
    ),
    JobKind(
        "catalog-item-bulk-delete-job",
        "items",
        cv.ITEM,
        "delete",
        "bulk_delete_catalog_items",
        "get_bulk_delete_catalog_items_jobs",
        "get_bulk_delete_catalog_items_job",
    ),
    JobKind(
        "catalog-category-bulk-create-job",
        "categories",
        cv.CATEGORY,
        "create",
        "bulk_create_catalog_categories",
        "get_bulk_create_categories_jobs",
        "get_bulk_create_categories_job",
    ),
    JobKind(
        "catalog-category-bulk-update-job",
        "categories",
        cv.CATEGORY,
        "update",
        "bulk_update_catalog_categories",
        "get_bulk_update_categories_jobs",
        "get_bulk_update_categories_job",
    ),
    JobKind(
        "catalog-category-bulk-delete-job",
        "categories",
        cv.CATEGORY,
        "delete",
        "bulk_delete_catalog_categories",
        "get_bulk_delete_categories_jobs",
        "get_bulk_delete_categories_job",
    ),
)


# -- request parsing (synchronous, all-or-nothing) -------------------------------------------------
def _member_id(entry: dict[str, Any], pointer: str) -> str:
    member_id = entry.get("id")
    if not isinstance(member_id, str) or not member_id:
        raise invalid("Each member must have a string 'id'.", pointer=f"{pointer}/id")
    return member_id


def _parse_member(kind: JobKind, entry: dict[str, Any], pointer: str) -> dict[str, Any]:
    """Validate one member; return what processing needs (``id`` is the resource it names)."""
    if kind.action == "delete":
        return {"id": _member_id(entry, pointer)}
    if kind.action == "update":
        member_id = _member_id(entry, pointer)
        if kind.is_item:
            attributes, related = cv.item_update(entry, pointer)
            return {"id": member_id, "attributes": attributes, "related": related}
        name, related = cv.category_update(entry, pointer)
        return {"id": member_id, "name": name, "related": related}
    if kind.is_item:
        external_id, attributes, related = cv.item_create(entry, pointer)
        return {
            "id": compound_id(external_id),
            "external_id": external_id,
            "attributes": attributes,
            "related": related,
        }
    external_id, name, related = cv.category_create(entry, pointer)
    return {"id": compound_id(external_id), "external_id": external_id, "name": name, "related": related}


def _parse(kind: JobKind, body: Any) -> list[dict[str, Any]]:
    data = resource(body, kind.kind)
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid("'attributes' is required.", pointer="/data/attributes")
    container = attributes.get(kind.container)
    pointer = f"/data/attributes/{kind.container}/data"
    if not isinstance(container, dict) or not isinstance(container.get("data"), list):
        raise invalid(
            f"'{kind.container}' must be an object with a 'data' array.",
            pointer=f"/data/attributes/{kind.container}",
        )
    entries: list[Any] = container["data"]
    if not entries:
        raise invalid(f"At least one {kind.member_type} is required.", pointer=pointer)
    if len(entries) > MAX_MEMBERS:
        raise invalid(
            f"A bulk job accepts at most {MAX_MEMBERS} {kind.container} per request; got {len(entries)}.",
            pointer=pointer,
        )
    members: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        where = f"{pointer}/{index}"
        if not isinstance(entry, dict):
            raise invalid("Each member must be a resource object.", pointer=where)
        if entry.get("type") != kind.member_type:
            raise invalid(f"Each member must have type '{kind.member_type}'.", pointer=f"{where}/type")
        members.append(_parse_member(kind, entry, where))
    return members


# -- processing (asynchronous, per member) ---------------------------------------------------------
def _apply(catalog: CatalogStore, kind: JobKind, member: dict[str, Any]) -> None:
    if kind.is_item:
        if kind.action == "create":
            catalog.create_item(member["external_id"], member["attributes"], member["related"])
        elif kind.action == "update":
            catalog.update_item(catalog.item(member["id"]), member["attributes"], member["related"])
        else:
            catalog.delete_item(catalog.item(member["id"]))
    elif kind.action == "create":
        catalog.create_category(member["external_id"], member["name"], member["related"])
    elif kind.action == "update":
        catalog.update_category(catalog.category(member["id"]), member["name"], member["related"])
    else:
        catalog.delete_category(catalog.category(member["id"]))


def _processor(catalog: CatalogStore, kind: JobKind) -> Callable[[CatalogJob, int], None]:
    def process(job: CatalogJob, index: int) -> None:
        try:
            _apply(catalog, kind, job.payload[index])
        except ApiError as exc:
            # Re-root the single-resource pointer (/data/attributes/x) at the member.
            prefix = f"/data/attributes/{kind.container}/data/{index}"
            pointer = exc.pointer or "/data"
            exc.pointer = prefix + pointer[len("/data") :] if pointer.startswith("/data") else prefix
            raise

    return process


# -- handlers --------------------------------------------------------------------------------------
def _job_doc(
    request: web.Request, kind: JobKind, job: CatalogJob, fields: list[str] | None
) -> dict[str, Any]:
    return job_resource(
        job, base_url(request), relationship=kind.container, member_type=kind.member_type, fields=fields
    )


def _fields(request: web.Request, kind: JobKind) -> list[str] | None:
    return query.parse_list(request.query, f"fields[{kind.kind}]", JOB_FIELDS)


def submit_handler(kind: JobKind) -> Handler:
    async def submit(request: web.Request) -> web.Response:
        ctx = context(request)
        fields = _fields(request, kind)
        members = _parse(kind, await read_json(request, MAX_REQUEST_BYTES))
        job = ctx.jobs.submit_catalog(
            kind.kind,
            members,
            list(dict.fromkeys(m["id"] for m in members)),
            _processor(ctx.store.catalog, kind),
        )
        doc = {
            "data": _job_doc(request, kind, job, fields),
            "links": {"self": f"{base_url(request)}{kind.path}/"},
        }
        return respond(doc, 202)

    return submit


def get_handler(kind: JobKind) -> Handler:
    async def get_job(request: web.Request) -> web.Response:
        ctx = context(request)
        job = ctx.jobs.catalog_job(kind.kind, request.match_info["job_id"])
        fields = _fields(request, kind)
        base = base_url(request)
        doc: dict[str, Any] = {
            "data": _job_doc(request, kind, job, fields),
            "links": {"self": f"{base}{kind.path}/{job.id}/"},
        }
        # Delete jobs offer no ``include`` in the spec: any value is a 400 there.
        include = query.parse_list(
            request.query, "include", (kind.container,) if kind.action != "delete" else ()
        )
        if kind.action != "delete":
            catalog = ctx.store.catalog
            if kind.is_item:
                item_fields = query.parse_list(request.query, "fields[catalog-item]", ITEM_FIELDS)
                if include:
                    with catalog.lock:
                        found = [catalog.items[i] for i in job.resource_ids if i in catalog.items]
                    doc["included"] = [item_resource(i, base, fields=item_fields) for i in found]
            else:
                category_fields = query.parse_list(request.query, "fields[catalog-category]", CATEGORY_FIELDS)
                if include:
                    with catalog.lock:
                        cats = [catalog.categories[c] for c in job.resource_ids if c in catalog.categories]
                    doc["included"] = [category_resource(c, base, fields=category_fields) for c in cats]
        return respond(doc)

    return get_job


def list_handler(kind: JobKind) -> Handler:
    async def list_jobs(request: web.Request) -> web.Response:
        ctx = context(request)
        q = request.query
        fields = _fields(request, kind)
        raw_filter = q.get("filter")
        compiled = (
            filters.compile_filter(raw_filter, JOB_FILTERS, kind.kind) if raw_filter is not None else None
        )
        cursor = query.decode_cursor(q, "created_at")
        with ctx.store.lock:
            jobs = [j for j in ctx.jobs.catalog_jobs.values() if j.kind == kind.kind]
        matching = [j for j in jobs if compiled is None or compiled.predicate({"status": j.status}.get)]

        def key(job: CatalogJob) -> query.SortKey:
            return (*query.sort_value(job.created_at), job.id)

        page = query.keyset_page(
            matching, key, size=MAX_MEMBERS, descending=False, after=cursor.key if cursor else None
        )
        doc = render.document(
            [_job_doc(request, kind, j, fields) for j in page.items],
            str(request.url),
            next_link=query.next_link(request, "created_at", page.next_key),
        )
        return respond(doc)

    return list_jobs


ROUTES: tuple[tuple[str, str, str, Handler], ...] = tuple(
    route
    for kind in KINDS
    for route in (
        ("GET", kind.path, kind.list_op, list_handler(kind)),
        ("POST", kind.path, kind.submit_op, submit_handler(kind)),
        ("GET", f"{kind.path}/{{job_id}}", kind.get_op, get_handler(kind)),
    )
)
