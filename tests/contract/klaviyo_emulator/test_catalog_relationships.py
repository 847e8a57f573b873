"""Item <-> category membership endpoints: related listings, linkage, add/replace/remove (204)."""

from __future__ import annotations

from urllib.parse import quote

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._catalog_support import category_doc, cid, item_doc, linkage
from ._support import Client, only_error


def cat(external_id: str, suffix: str = "") -> str:
    return f"/api/catalog-categories/{quote(cid(external_id), safe='')}{suffix}"


def item(external_id: str, suffix: str = "") -> str:
    return f"/api/catalog-items/{quote(cid(external_id), safe='')}{suffix}"


async def _seed(http: Client) -> None:
    for name in ("A", "B"):
        assert (await http.post("/api/catalog-categories", category_doc(name)))[0] == 201
    for n in range(4):
        assert (await http.post("/api/catalog-items", item_doc(f"I{n}", title=f"Thing {n}")))[0] == 201


async def test_category_items_add_replace_remove(http: Client, emulator: KlaviyoEmulator) -> None:
    await _seed(http)
    rel = cat("A", "/relationships/items")
    status, doc, _ = await http.call("POST", rel, linkage("catalog-item", cid("I0"), cid("I1")))
    assert (status, doc) == (204, None)
    assert emulator.catalog_categories[cid("A")]["item_ids"] == [cid("I0"), cid("I1")]
    assert emulator.catalog_items[cid("I0")]["category_ids"] == [cid("A")]

    status, doc, _ = await http.get(rel)
    assert status == 200
    assert doc["data"] == [
        {"type": "catalog-item", "id": cid("I0")},
        {"type": "catalog-item", "id": cid("I1")},
    ]
    status, doc, _ = await http.get(cat("A", "/items"), **{"fields[catalog-item]": "title"})
    assert [d["attributes"] for d in doc["data"]] == [{"title": "Thing 0"}, {"title": "Thing 1"}]
    status, doc, _ = await http.get(cat("A", "/items"), filter='contains(title,"1")')
    assert [d["id"] for d in doc["data"]] == [cid("I1")]

    status, _, _ = await http.call("PATCH", rel, linkage("catalog-item", cid("I2"), cid("I1")))
    assert status == 204
    assert emulator.catalog_categories[cid("A")]["item_ids"] == [cid("I1"), cid("I2")]
    assert emulator.catalog_items[cid("I0")]["category_ids"] == []

    status, _, _ = await http.call("DELETE", rel, linkage("catalog-item", cid("I1")))
    assert status == 204
    assert emulator.catalog_categories[cid("A")]["item_ids"] == [cid("I2")]


async def test_item_categories_add_replace_remove(http: Client, emulator: KlaviyoEmulator) -> None:
    await _seed(http)
    rel = item("I3", "/relationships/categories")
    assert (await http.call("POST", rel, linkage("catalog-category", cid("A"), cid("B"))))[0] == 204
    status, doc, _ = await http.get(item("I3", "/categories"), sort="-created", **{"page[size]": "1"})
    assert status == 200 and len(doc["data"]) == 1 and "next" in doc["links"]
    assert doc["data"][0]["type"] == "catalog-category"
    status, doc, _ = await http.get(rel, filter='contains(name,"B")')
    assert doc["data"] == [{"type": "catalog-category", "id": cid("B")}]
    assert (await http.call("PATCH", rel, linkage("catalog-category", cid("B"))))[0] == 204
    assert emulator.catalog_items[cid("I3")]["category_ids"] == [cid("B")]
    assert emulator.catalog_categories[cid("A")]["item_ids"] == []
    assert (await http.call("DELETE", rel, linkage("catalog-category", cid("B"))))[0] == 204
    assert emulator.catalog_items[cid("I3")]["category_ids"] == []
    status, doc, _ = await http.get(item("I3", "/categories"))
    assert (status, doc["data"]) == (200, [])


async def test_relationship_errors_change_nothing(http: Client, emulator: KlaviyoEmulator) -> None:
    await _seed(http)
    rel = cat("A", "/relationships/items")
    status, doc, _ = await http.call("POST", rel, linkage("catalog-item", cid("I0"), cid("NOPE")))
    assert status == 404 and cid("NOPE") in only_error(doc)["detail"]
    assert emulator.catalog_categories[cid("A")]["item_ids"] == []
    status, doc, _ = await http.call("POST", rel, linkage("catalog-category", cid("B")))
    assert status == 400 and only_error(doc)["source"] == {"pointer": "/data/0/type"}
    status, doc, _ = await http.call("POST", rel, {"data": {"type": "catalog-item", "id": cid("I0")}})
    assert status == 400 and only_error(doc)["source"] == {"pointer": "/data"}
    status, doc, _ = await http.call(
        "POST", cat("ZZ", "/relationships/items"), linkage("catalog-item", cid("I0"))
    )
    assert status == 404
    status, doc, _ = await http.get(item("ZZ", "/categories"))
    assert status == 404
    status, doc, _ = await http.get(cat("A", "/items"), filter='equals(name,"x")')
    assert status == 400 and only_error(doc)["source"] == {"parameter": "filter"}
