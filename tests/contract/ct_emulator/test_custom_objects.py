"""Custom Objects: create-or-update by (container, key), conditional versions, queries, deletes."""

from __future__ import annotations

from .conftest import Api


async def test_create_then_update_then_read(api: Api) -> None:
    status, created = await api.post(
        "/custom-objects", {"container": "sync-state", "key": "cursor", "value": {"at": 1}}
    )
    assert status == 201
    assert set(created) == {
        "id",
        "version",
        "createdAt",
        "lastModifiedAt",
        "lastModifiedBy",
        "createdBy",
        "container",
        "key",
        "value",
    }
    assert created["version"] == 1 and created["value"] == {"at": 1}
    status, updated = await api.post(
        "/custom-objects", {"container": "sync-state", "key": "cursor", "value": {"at": 2}}
    )
    assert status == 200 and updated["version"] == 2 and updated["id"] == created["id"]
    assert updated["createdAt"] == created["createdAt"]
    assert await api.get("/custom-objects/sync-state/cursor") == (200, updated)
    status, same = await api.post(
        "/custom-objects", {"container": "sync-state", "key": "cursor", "value": {"at": 2}}
    )
    assert status == 200 and same["version"] == 2  # unchanged value, unchanged version


async def test_version_conditions(api: Api) -> None:
    draft = {"container": "c", "key": "k", "value": "v1", "version": 0}
    assert (await api.post("/custom-objects", draft))[0] == 201
    status, body = await api.post("/custom-objects", {**draft, "value": "v2"})
    assert status == 409 and body["errors"][0]["code"] == "ConcurrentModification"
    assert body["errors"][0]["currentVersion"] == 1
    status, body = await api.post("/custom-objects", {**draft, "value": "v2", "version": 5})
    assert status == 409 and body["errors"][0]["currentVersion"] == 1
    status, ok = await api.post("/custom-objects", {**draft, "value": "v2", "version": 1})
    assert status == 200 and ok["version"] == 2
    status, _ = await api.post(
        "/custom-objects", {"container": "c", "key": "other", "value": 1, "version": 3}
    )
    assert status == 409


async def test_missing_object_is_404_and_bad_drafts_are_400(api: Api) -> None:
    status, body = await api.get("/custom-objects/c/nothing")
    assert status == 404 and body["errors"][0]["code"] == "ResourceNotFound"
    for draft in (
        {"key": "k", "value": 1},
        {"container": "c", "key": "k"},
        {"container": "bad container", "key": "k", "value": 1},
    ):
        status, body = await api.post("/custom-objects", draft)
        assert status == 400, draft
        assert body["errors"][0]["code"] in ("InvalidJsonInput", "InvalidField")


async def test_query_by_container_and_all(api: Api) -> None:
    for i in range(5):
        await api.post("/custom-objects", {"container": "a", "key": f"k{i}", "value": i})
    await api.post("/custom-objects", {"container": "b", "key": "k0", "value": "other"})
    status, page = await api.get("/custom-objects/a", where="value >= 3", sort="key desc")
    assert status == 200 and [o["key"] for o in page["results"]] == ["k4", "k3"] and page["total"] == 2
    status, everything = await api.get("/custom-objects", where='container = "b"')
    assert everything["total"] == 1 and everything["results"][0]["value"] == "other"


async def test_delete_with_and_without_version(api: Api) -> None:
    await api.post("/custom-objects", {"container": "c", "key": "k1", "value": 1})
    await api.post("/custom-objects", {"container": "c", "key": "k2", "value": 1})
    assert (await api.call("DELETE", "/custom-objects/c/k1", params={"version": 9}))[0] == 409
    status, deleted = await api.call("DELETE", "/custom-objects/c/k1", params={"version": 1})
    assert status == 200 and deleted["key"] == "k1"
    assert (await api.call("DELETE", "/custom-objects/c/k2"))[0] == 200
    assert (await api.call("DELETE", "/custom-objects/c/k2"))[0] == 404
    assert (await api.get("/custom-objects/c"))[1]["total"] == 0
