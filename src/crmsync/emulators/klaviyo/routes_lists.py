"""Lists, minimally: create, list, get, members (paged, filterable by email/phone; as profiles or as
``{type, id}`` linkage), add and remove members.

Enough for bulk import jobs with a ``lists`` relationship and for list-membership assertions. Adding
and removing take ``{"data": [{"type": "profile", "id": ...}]}`` (``ListMembersAddQuery`` /
``ListMembersDeleteQuery``), at most 1,000 profiles per call, and answer 204; membership never
touches consent.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crmsync.emulators.klaviyo import filters, query, render
from crmsync.emulators.klaviyo.context import KB, base_url, context, no_content, read_json, respond
from crmsync.emulators.klaviyo.errors import invalid
from crmsync.emulators.klaviyo.filters import spec
from crmsync.emulators.klaviyo.ids import iso
from crmsync.emulators.klaviyo.routes_profiles import additional_param, fields_param
from crmsync.emulators.klaviyo.store import KList, Profile
from crmsync.emulators.klaviyo.validation import resource

LIST_FILTERS = {
    "name": spec("any equals"),
    "id": spec("any equals"),
    "created": spec("greater-than", "datetime"),
    "updated": spec("greater-than", "datetime"),
}
MEMBER_FILTERS = {
    "email": spec("any equals", fold_case=True),
    "phone_number": spec("any equals"),
    "push_token": spec("any equals"),
    "_kx": spec("equals"),
    "joined_group_at": spec("greater-or-equal greater-than less-or-equal less-than", "datetime"),
}
MAX_MEMBERS_PER_CALL = 1000


async def create_list(request: web.Request) -> web.Response:
    store = context(request).store
    data = resource(await read_json(request, 100 * KB), "list")
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid("'attributes' is required.", pointer="/data/attributes")
    name = attributes.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("The list name is required.", pointer="/data/attributes/name")
    opt_in = attributes.get("opt_in_process") or "single_opt_in"
    if opt_in not in ("single_opt_in", "double_opt_in"):
        raise invalid(
            "'opt_in_process' must be single_opt_in or double_opt_in.",
            pointer="/data/attributes/opt_in_process",
        )
    klist = store.create_list(name, opt_in)
    base = base_url(request)
    return respond(
        {"data": render.list_resource(klist, base), "links": {"self": f"{base}/api/lists/{klist.id}/"}}, 201
    )


def _list_getter(klist: KList) -> Any:
    values = {"name": klist.name, "id": klist.id, "created": klist.created, "updated": klist.updated}
    return values.get


async def get_lists(request: web.Request) -> web.Response:
    store = context(request).store
    q = request.query
    size = query.page_size(q, default=10, maximum=10)
    sort, descending = query.parse_sort(q, ("created", "id", "name", "updated"), "id")
    raw_filter = q.get("filter")
    compiled = filters.compile_filter(raw_filter, LIST_FILTERS, "list") if raw_filter is not None else None
    cursor = query.decode_cursor(q, sort)
    with store.lock:
        matching = [
            k for k in store.lists.values() if compiled is None or compiled.predicate(_list_getter(k))
        ]

    def key(klist: KList) -> query.SortKey:
        return (*query.sort_value(_list_getter(klist)(sort)), klist.id)

    page = query.keyset_page(
        matching, key, size=size, descending=descending, after=cursor.key if cursor else None
    )
    base = base_url(request)
    doc = render.document(
        [render.list_resource(k, base) for k in page.items],
        str(request.url),
        next_link=query.next_link(request, sort, page.next_key),
    )
    return respond(doc)


async def get_list(request: web.Request) -> web.Response:
    store = context(request).store
    klist = store.klist(request.match_info["id"])
    additional = query.parse_list(request.query, "additional-fields[list]", ("profile_count",)) or []
    base = base_url(request)
    data = render.list_resource(klist, base, profile_count="profile_count" in additional)
    return respond({"data": data, "links": {"self": f"{base}/api/lists/{klist.id}/"}})


def _member_page(request: web.Request, klist: KList) -> tuple[query.Page[tuple[Profile, Any]], str]:
    """One page of a list's members (filtered, sorted by ``joined_group_at``) and the sort used."""
    store = context(request).store
    q = request.query
    size = query.page_size(q, default=20, maximum=100)
    sort, descending = query.parse_sort(q, ("joined_group_at",), "joined_group_at")
    raw_filter = q.get("filter")
    compiled = (
        filters.compile_filter(raw_filter, MEMBER_FILTERS, "profile") if raw_filter is not None else None
    )
    cursor = query.decode_cursor(q, sort)
    with store.lock:
        members = [
            (store.profiles[pid], joined) for pid, joined in klist.members.items() if pid in store.profiles
        ]

    def accept(item: tuple[Profile, Any]) -> bool:
        profile, joined = item
        if compiled is None:
            return True
        return compiled.predicate(lambda name: joined if name == "joined_group_at" else profile.get(name))

    def key(item: tuple[Profile, Any]) -> query.SortKey:
        return (*query.sort_value(item[1]), item[0].id)

    page = query.keyset_page(
        [m for m in members if accept(m)],
        key,
        size=size,
        descending=descending,
        after=cursor.key if cursor else None,
    )
    return page, sort


async def get_profiles_for_list(request: web.Request) -> web.Response:
    klist = context(request).store.klist(request.match_info["id"])
    fields = fields_param(request, extra=("joined_group_at",))
    additional = additional_param(request)
    page, sort = _member_page(request, klist)
    base = base_url(request)
    data = [
        render.profile_resource(
            profile, base, fields=fields, additional=additional, extra={"joined_group_at": iso(joined)}
        )
        for profile, joined in page.items
    ]
    doc = render.document(data, str(request.url), next_link=query.next_link(request, sort, page.next_key))
    return respond(doc)


async def get_profile_ids_for_list(request: web.Request) -> web.Response:
    """The members as ``{type, id}`` linkage (same filter, sort and paging as the profiles)."""
    klist = context(request).store.klist(request.match_info["id"])
    page, sort = _member_page(request, klist)
    data = [{"type": "profile", "id": profile.id} for profile, _ in page.items]
    doc = render.document(data, str(request.url), next_link=query.next_link(request, sort, page.next_key))
    return respond(doc)


async def _member_profiles(request: web.Request, action: str) -> list[Profile]:
    """The profiles a membership body names; 400 for a malformed body, 404 for an unknown profile.

    Every entry is checked before anything changes, so a bad request leaves the list as it was.
    """
    store = context(request).store
    body = await read_json(request, 5 * 1024 * KB)
    entries = body.get("data") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise invalid("'data' must be an array of profile identifiers.", pointer="/data")
    if len(entries) > MAX_MEMBERS_PER_CALL:
        raise invalid(f"At most {MAX_MEMBERS_PER_CALL} profiles can be {action} per call.", pointer="/data")
    profiles: list[Profile] = []
    for index, entry in enumerate(entries):
        if (
            not isinstance(entry, dict)
            or entry.get("type") != "profile"
            or not isinstance(entry.get("id"), str)
        ):
            raise invalid("Each entry must be {'type': 'profile', 'id': ...}.", pointer=f"/data/{index}")
        profiles.append(store.profile(entry["id"]))
    return profiles


async def add_profiles_to_list(request: web.Request) -> web.Response:
    store = context(request).store
    klist = store.klist(request.match_info["id"])
    for profile in await _member_profiles(request, "added"):
        store.add_to_list(klist, profile)
    return no_content()


async def remove_profiles_from_list(request: web.Request) -> web.Response:
    """Membership only (consent is untouched, as the spec says); a profile not in the list is a no-op."""
    store = context(request).store
    klist = store.klist(request.match_info["id"])
    for profile in await _member_profiles(request, "removed"):
        store.remove_from_list(klist, profile)
    return no_content()
