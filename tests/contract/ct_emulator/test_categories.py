"""Categories over HTTP: the tree (ancestors), keys and slugs, update actions, Messages, deletion."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .commerce_support import created, error_code, messages_of, updated
from .conftest import Api


def draft(slug: str, parent: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": {"en": slug.title()}, "slug": {"en": slug}, "key": slug, **extra}
    if parent is not None:
        body["parent"] = {"typeId": "category", "id": parent["id"]}
    return body


async def tree(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    root = await created(api, "/categories", draft("root", orderHint="0.1"))
    child = await created(api, "/categories", draft("child", root))
    grandchild = await created(api, "/categories", draft("grandchild", child))
    return root, child, grandchild


async def test_create_builds_ancestors_root_first(api: Api, emu: CommercetoolsEmulator) -> None:
    root, child, grandchild = await tree(api)
    ref = {"typeId": "category", "id": root["id"]}
    assert root["ancestors"] == [] and "parent" not in root and root["orderHint"] == "0.1"
    assert child["parent"] == ref and child["ancestors"] == [ref]
    assert grandchild["ancestors"] == [ref, {"typeId": "category", "id": child["id"]}]
    assert 0 < float(child["orderHint"]) < 1  # a random one when the draft has none
    assert child["version"] == 1 and child["createdAt"] == child["lastModifiedAt"]
    (message,) = messages_of(emu, child["id"])
    assert message["type"] == "CategoryCreated" and message["category"] == child
    assert message["resourceUserProvidedIdentifiers"] == {"key": "child", "slug": {"en": "child"}}
    assert await api.get(f"/categories/{child['id']}") == (200, child)
    assert await api.get("/categories/key=child") == (200, child)
    status, body = await api.get("/categories/key=nope")
    assert status == 404 and error_code(body) == "ResourceNotFound"
    assert body["message"] == "The Resource with key 'nope' was not found."


async def test_draft_errors(api: Api) -> None:
    await created(api, "/categories", draft("taken"))
    status, body = await api.post("/categories", {**draft("other"), "slug": {"en": "taken"}})
    assert status == 400 and error_code(body) == "DuplicateField" and body["errors"][0]["field"] == "slug.en"
    status, body = await api.post("/categories", {**draft("x2"), "key": "taken"})
    assert status == 400 and error_code(body) == "DuplicateField" and body["errors"][0]["field"] == "key"
    status, body = await api.post("/categories", draft("bad slug!"))
    assert status == 400 and error_code(body) == "InvalidField"
    status, body = await api.post(
        "/categories", {**draft("orphan"), "parent": {"typeId": "category", "id": "123456"}}
    )
    assert status == 400 and error_code(body) == "ReferencedResourceNotFound"
    assert body["errors"][0]["typeId"] == "category" and body["errors"][0]["id"] == "123456"
    status, body = await api.post("/categories", {"slug": {"en": "no-name"}})
    assert status == 400 and error_code(body) == "InvalidJsonInput"


async def test_update_actions_and_their_messages(api: Api, emu: CommercetoolsEmulator) -> None:
    root = await created(api, "/categories", draft("shoes"))
    renamed = await updated(
        api,
        "/categories",
        root,
        {"action": "changeName", "name": {"en": "Footwear"}},
        {"action": "changeSlug", "slug": {"en": "footwear"}},
        {"action": "setKey", "key": "footwear"},
        {"action": "setDescription", "description": {"en": "All shoes"}},
    )
    assert renamed["version"] == 2 and renamed["name"] == {"en": "Footwear"} and renamed["key"] == "footwear"
    types = [(m["type"], m["sequenceNumber"], m["resourceVersion"]) for m in messages_of(emu, root["id"])]
    assert types == [("CategoryCreated", 1, 1), ("CategorySlugChanged", 2, 2)]  # no name/key Message types
    slug_changed = messages_of(emu, root["id"])[1]
    assert slug_changed["slug"] == {"en": "footwear"} and slug_changed["oldSlug"] == {"en": "shoes"}
    assert slug_changed["resourceUserProvidedIdentifiers"] == {"key": "footwear", "slug": {"en": "footwear"}}
    same = await updated(api, "/categories", renamed, {"action": "changeName", "name": {"en": "Footwear"}})
    assert same == renamed  # a no-op keeps the version
    status, body = await api.post(
        f"/categories/{root['id']}",
        {"version": 1, "actions": [{"action": "changeName", "name": {"en": "X"}}]},
    )
    assert status == 409 and error_code(body) == "ConcurrentModification"
    assert body["errors"][0]["currentVersion"] == 2
    status, body = await api.post(f"/categories/{root['id']}", {"version": 2, "actions": [{"action": "fly"}]})
    assert status == 400 and error_code(body) == "InvalidInput"


async def test_change_parent_moves_the_subtree(api: Api) -> None:
    root, child, grandchild = await tree(api)
    other = await created(api, "/categories", draft("other"))
    moved = await updated(
        api,
        "/categories",
        child,
        {"action": "changeParent", "parent": {"typeId": "category", "key": "other"}},
    )
    other_ref = {"typeId": "category", "id": other["id"]}
    assert moved["parent"] == other_ref and moved["ancestors"] == [other_ref]
    _, below = await api.get(f"/categories/{grandchild['id']}")
    assert below["ancestors"] == [other_ref, {"typeId": "category", "id": child["id"]}]
    assert below["version"] == 2
    status, body = await api.post(
        f"/categories/{other['id']}",
        {
            "version": 1,
            "actions": [{"action": "changeParent", "parent": {"typeId": "category", "id": grandchild["id"]}}],
        },
    )
    assert status == 400 and error_code(body) == "InvalidOperation"
    assert root["ancestors"] == []


async def test_delete_removes_the_subtree_without_messages(api: Api, emu: CommercetoolsEmulator) -> None:
    root, child, grandchild = await tree(api)
    before = len(emu.messages)
    status, body = await api.call("DELETE", f"/categories/{root['id']}", params={"version": "0"})
    assert status == 409 and body["errors"][0]["currentVersion"] == 1
    status, body = await api.call("DELETE", f"/categories/key={root['key']}", params={"version": "1"})
    assert status == 200 and body == root
    assert len(emu.messages) == before  # there is no CategoryDeleted Message
    for category in (root, child, grandchild):
        assert (await api.get(f"/categories/{category['id']}"))[0] == 404
    status, page = await api.get("/categories")
    assert status == 200 and page["total"] == 0


async def test_query_paging_and_keyset_iteration(api: Api) -> None:
    made = [await created(api, "/categories", draft(f"cat-{i:02d}")) for i in range(12)]
    status, page = await api.get("/categories", limit="5", offset="10", sort="key asc")
    assert status == 200 and list(page) == ["limit", "offset", "count", "total", "results"]
    assert (page["limit"], page["offset"], page["count"], page["total"]) == (5, 10, 2, 12)
    assert [c["key"] for c in page["results"]] == ["cat-10", "cat-11"]
    seen: list[str] = []
    last = ""
    while True:
        params = {"sort": "id asc", "limit": "5", "withTotal": "false"}
        if last:
            params["where"] = f'id > "{last}"'
        _, page = await api.get("/categories", **params)
        assert "total" not in page
        if not page["results"]:
            break
        seen += [c["id"] for c in page["results"]]
        last = seen[-1]
    assert seen == sorted(c["id"] for c in made)
    status, page = await api.get("/categories", where='slug(en = "cat-03")')
    assert status == 200 and [c["key"] for c in page["results"]] == ["cat-03"]
    status, body = await api.get("/categories", where='nosuchfield = "x"')
    assert status == 400 and error_code(body) == "InvalidInput"
    assert (await api.call("HEAD", "/categories", params={"where": 'key = "cat-01"'}))[0] == 200
    assert (await api.call("HEAD", "/categories", params={"where": 'key = "zzz"'}))[0] == 404
