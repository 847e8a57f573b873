"""Profile endpoints: create, list (filter/sort/paginate/sparse fields), get, update, upsert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from crmsync.emulators.klaviyo import filters, query, render
from crmsync.emulators.klaviyo.context import KB, base_url, context, read_json, respond
from crmsync.emulators.klaviyo.errors import invalid
from crmsync.emulators.klaviyo.filters import spec
from crmsync.emulators.klaviyo.store import Profile, Store
from crmsync.emulators.klaviyo.validation import (
    LOCATION_FIELDS,
    PROFILE_FIELDS,
    UPSERT_FIELDS,
    patch_ops,
    profile_attributes,
    require_identifier,
    resource,
)

PROFILE_MAX_BYTES = 100 * KB

PROFILE_FILTERS: dict[str, filters.FieldSpec] = {
    "id": spec("any equals"),
    "email": spec("any equals", fold_case=True),
    "phone_number": spec("any equals"),
    "external_id": spec("any equals"),
    "_kx": spec("equals"),
    "created": spec("greater-than less-than", "datetime"),
    "updated": spec("greater-than less-than", "datetime"),
}
INDEXED = ("id", "email", "phone_number", "external_id")
#: The suppression-timestamp sorts are valid; with no suppressions modelled every profile sorts as
#: null there, i.e. by id.
PROFILE_SORTS = (
    "id",
    "created",
    "updated",
    "email",
    "subscriptions.email.marketing.suppression.timestamp",
    "subscriptions.email.marketing.list_suppressions.timestamp",
)
_TOP_FIELDS = {
    "id",
    "created",
    "updated",
    "last_event_date",
    "location",
    "properties",
    "subscriptions",
    "predictive_analytics",
    *PROFILE_FIELDS,
}
ADDITIONAL = ("subscriptions", "predictive_analytics")


class SparseFields:
    """Allowed ``fields[profile]`` values: top-level attributes and their dotted sub-paths."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        self.top = _TOP_FIELDS | set(extra)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        head, _, rest = item.partition(".")
        if head not in self.top:
            return False
        if not rest:
            return True
        if head == "location":
            return rest in LOCATION_FIELDS
        return head in ("subscriptions", "predictive_analytics")


def fields_param(request: web.Request, extra: tuple[str, ...] = ()) -> list[str] | None:
    requested = query.parse_list(request.query, "fields[profile]")
    if requested is None:
        return None
    allowed = SparseFields(extra)
    for item in requested:
        if item not in allowed:
            raise invalid(f"'{item}' is not a valid field for fields[profile].", parameter="fields[profile]")
    return [item for item in requested if item != "id"]


def additional_param(request: web.Request) -> frozenset[str]:
    return frozenset(query.parse_list(request.query, "additional-fields[profile]", ADDITIONAL) or ())


def one(request: web.Request, profile: Profile, status: int) -> web.Response:
    doc = {
        "data": render.profile_resource(
            profile, base_url(request), fields=fields_param(request), additional=additional_param(request)
        ),
        "links": {"self": f"{base_url(request)}/api/profiles/{profile.id}/"},
    }
    return respond(doc, status)


async def create_profile(request: web.Request) -> web.Response:
    store = context(request).store
    data = resource(await read_json(request, PROFILE_MAX_BYTES), "profile")
    if "attributes" not in data:
        raise invalid("The resource object must contain an 'attributes' member.", pointer="/data/attributes")
    attrs = profile_attributes(data["attributes"])
    require_identifier(attrs)
    return one(request, store.create_profile(attrs), 201)


async def create_or_update_profile(request: web.Request) -> web.Response:
    store = context(request).store
    data = resource(await read_json(request, PROFILE_MAX_BYTES), "profile")
    if "attributes" not in data:
        raise invalid("The resource object must contain an 'attributes' member.", pointer="/data/attributes")
    attrs = profile_attributes(data["attributes"], allowed=UPSERT_FIELDS)
    ops = patch_ops(data.get("meta"), "/data/meta")
    profile_id = data.get("id")
    if profile_id is not None and not isinstance(profile_id, str):
        raise invalid("'id' must be a string.", pointer="/data/id")
    if not profile_id:
        require_identifier(attrs)
    profile, created = store.upsert(attrs, ops, profile_id or None)
    return one(request, profile, 201 if created else 200)


async def update_profile(request: web.Request) -> web.Response:
    store = context(request).store
    profile_id = request.match_info["id"]
    data = resource(await read_json(request, PROFILE_MAX_BYTES), "profile", path_id=profile_id)
    if "attributes" not in data:
        raise invalid("The resource object must contain an 'attributes' member.", pointer="/data/attributes")
    attrs = profile_attributes(data["attributes"])
    ops = patch_ops(data.get("meta"), "/data/meta")
    profile = store.profile(profile_id)
    return one(request, store.update_profile(profile, attrs, ops), 200)


async def get_profile(request: web.Request) -> web.Response:
    store = context(request).store
    profile = store.profile(request.match_info["id"])
    include = frozenset(
        query.parse_list(request.query, "include", ("conversations", "lists", "push-tokens", "segments"))
        or ()
    )
    base = base_url(request)
    resource_doc = render.profile_resource(
        profile,
        base,
        fields=fields_param(request),
        additional=additional_param(request),
        relationships=(*render.PROFILE_RELATIONSHIPS, "conversations"),
        include=include,
    )
    doc: dict[str, Any] = {"data": resource_doc, "links": {"self": f"{base}/api/profiles/{profile.id}/"}}
    if include:
        doc["included"] = [
            render.list_resource(store.lists[lid], base) for lid in profile.lists if "lists" in include
        ]
    return respond(doc)


def candidate_ids(store: Store, compiled: filters.Filter | None) -> list[str] | None:
    """Profile ids allowed by the top-level equals/any conditions on indexed fields (None = all)."""
    if compiled is None:
        return None
    result: set[str] | None = None
    for cond in compiled.top_level():
        if cond.field not in INDEXED or cond.op not in ("equals", "any"):
            continue
        values = cond.value if isinstance(cond.value, list) else [cond.value]
        if cond.field == "id":
            found = {v for v in values if v in store.profiles}
        else:
            found = {pid for v in values if (pid := store.owner(cond.field, v)) is not None}
        result = found if result is None else result & found
    return None if result is None else sorted(result)


def profile_key(sort: str) -> Callable[[Profile], query.SortKey]:
    def key(profile: Profile) -> query.SortKey:
        value = profile.get(sort) if sort in ("id", "created", "updated", "email") else None
        return (*query.sort_value(value), profile.id)

    return key


def profile_page(request: web.Request, store: Store, sort: str, descending: bool) -> query.Page[Profile]:
    """Filter, sort and page the account's profiles for get_profiles."""
    q = request.query
    size = query.page_size(q, default=20, maximum=100)
    raw_filter = q.get("filter")
    compiled = (
        filters.compile_filter(raw_filter, PROFILE_FILTERS, "profile") if raw_filter is not None else None
    )
    cursor = query.decode_cursor(q, sort)
    after = cursor.key if cursor else None
    key = profile_key(sort)

    def accept(profile: Profile) -> bool:
        return compiled is None or compiled.predicate(profile.get)

    with store.lock:
        ids = candidate_ids(store, compiled)
        if ids is None and sort in ("id", "created"):
            # Fast path: id order equals creation order (monotonic ULIDs); walk it lazily.
            stream = store.ids_in_order(reverse=descending, after=after[2] if after else None)
            return query.scan_page(stream, store.profiles.get, accept, key, size)
        pool = [store.profiles[i] for i in ids] if ids is not None else list(store.profiles.values())
        matching = [p for p in pool if accept(p)]
    return query.keyset_page(matching, key, size=size, descending=descending, after=after)


async def get_profiles(request: web.Request) -> web.Response:
    store = context(request).store
    include = frozenset(query.parse_list(request.query, "include", ("conversations", "push-tokens")) or ())
    fields = fields_param(request)
    additional = additional_param(request)
    sort, descending = query.parse_sort(request.query, PROFILE_SORTS, "id")
    page = profile_page(request, store, sort, descending)
    base = base_url(request)
    data = [
        render.profile_resource(
            p,
            base,
            fields=fields,
            additional=additional,
            relationships=(*render.PROFILE_RELATIONSHIPS, "conversations"),
            include=include,
        )
        for p in page.items
    ]
    doc = render.document(
        data,
        str(request.url),
        next_link=query.next_link(request, sort, page.next_key),
        included=[] if include else None,
    )
    return respond(doc)
