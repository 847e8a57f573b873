"""Catalog items and categories: create/get/update/delete, 409 duplicates, validation, listing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._catalog_support import category_doc, cid, item_doc
from ._support import Client, only_error

ITEMS = "/api/catalog-items"
CATEGORIES = "/api/catalog-categories"


def url(collection: str, rid: str) -> str:
    return f"{collection}/{quote(rid, safe='')}"


async def _create(http: Client, collection: str, body: dict[str, Any]) -> dict[str, Any]:
    status, doc, _ = await http.post(collection, body)
    assert status == 201, doc
    return doc["data"]


async def test_create_item_201_document_and_state(http: Client, emulator: KlaviyoEmulator) -> None:
    category = await _create(http, CATEGORIES, category_doc("APPAREL", "Apparel"))
    body = item_doc(
        "SKU-1",
        categories=(category["id"],),
        price=42,
        images=["https://img.example.com/1.png"],
        custom_metadata={"Top Pick": True},
        integration_type="$custom",
        catalog_type="$default",
    )
    status, doc, _ = await http.post(ITEMS, body)
    assert status == 201
    data = doc["data"]
    assert (data["type"], data["id"]) == ("catalog-item", "$custom:::$default:::SKU-1")
    attrs = data["attributes"]
    assert set(attrs) == {
        "external_id", "title", "description", "price", "url", "image_full_url", "image_thumbnail_url",
        "images", "custom_metadata", "published", "created", "updated",
    }  # fmt: skip
    assert (attrs["external_id"], attrs["price"], attrs["published"]) == ("SKU-1", 42, True)
    assert attrs["image_full_url"] is None and attrs["created"].endswith("+00:00")
    assert data["links"]["self"] == f"{emulator.base_url}/api/catalog-items/$custom:::$default:::SKU-1/"
    assert set(data["relationships"]) == {"variants"}
    assert set(data["relationships"]["variants"]["links"]) == {"self", "related"}
    assert emulator.catalog_items[cid("SKU-1")]["category_ids"] == [category["id"]]
    assert emulator.catalog_categories[category["id"]]["item_ids"] == [cid("SKU-1")]
    assert emulator.catalog_items[cid("SKU-1")]["integration_type"] == "$custom"


async def test_duplicate_external_id_is_409(http: Client, emulator: KlaviyoEmulator) -> None:
    await _create(http, ITEMS, item_doc("DUP", title="First"))
    status, doc, _ = await http.post(ITEMS, item_doc("DUP", title="Second"))
    assert status == 409
    error = only_error(doc)
    assert error["code"] == "conflict"
    assert error["source"] == {"pointer": "/data/attributes/external_id"}
    assert cid("DUP") in error["detail"]
    assert emulator.catalog_items[cid("DUP")]["title"] == "First"
    await _create(http, CATEGORIES, category_doc("DUP"))  # categories are a separate namespace
    status, doc, _ = await http.post(CATEGORIES, category_doc("DUP"))
    assert status == 409 and only_error(doc)["source"] == {"pointer": "/data/attributes/external_id"}


def _item_body(**changes: Any) -> dict[str, Any]:
    body = item_doc("V-1")
    attrs = body["data"]["attributes"]
    for key, value in changes.items():
        if value is None:
            attrs.pop(key)
        else:
            attrs[key] = value
    return body


ITEM_CASES = [
    ({"title": None}, "/data/attributes/title"),
    ({"external_id": ""}, "/data/attributes/external_id"),
    ({"description": 5}, "/data/attributes/description"),
    ({"url": None}, "/data/attributes/url"),
    ({"price": "10"}, "/data/attributes/price"),
    ({"images": "https://x"}, "/data/attributes/images"),
    ({"published": "yes"}, "/data/attributes/published"),
    ({"integration_type": "$shopify"}, "/data/attributes/integration_type"),
    ({"catalog_type": "other"}, "/data/attributes/catalog_type"),
    ({"custom_metadata": [1]}, "/data/attributes/custom_metadata"),
    ({"custom_metadata": {"blob": "z" * (100 * 1024)}}, "/data/attributes/custom_metadata"),
    ({"sku": "S"}, "/data/attributes/sku"),
]


@pytest.mark.parametrize(
    ("changes", "pointer"), ITEM_CASES, ids=[p.rsplit("/", 1)[-1] for _, p in ITEM_CASES]
)
async def test_item_create_validation(
    http: Client, emulator: KlaviyoEmulator, changes: dict[str, Any], pointer: str
) -> None:
    status, doc, _ = await http.post(ITEMS, _item_body(**changes))
    assert status == 400, doc
    error = only_error(doc)
    assert (error["code"], error["source"]) == ("invalid", {"pointer": pointer})
    assert len(emulator.catalog_items) == 0


async def test_item_create_envelope_errors(http: Client, emulator: KlaviyoEmulator) -> None:
    body = item_doc("T-1")
    body["data"]["type"] = "catalog-variant"
    status, doc, _ = await http.post(ITEMS, body)
    assert status == 409 and only_error(doc)["source"] == {"pointer": "/data/type"}
    status, doc, _ = await http.post(ITEMS, item_doc("T-1", categories=(cid("NOPE"),)))
    assert status == 404 and only_error(doc)["code"] == "not_found"
    body = item_doc("T-1")
    body["data"]["relationships"] = {"categories": {"data": [{"type": "catalog-item", "id": "x"}]}}
    status, doc, _ = await http.post(ITEMS, body)
    assert status == 400
    assert only_error(doc)["source"] == {"pointer": "/data/relationships/categories/data/0/type"}
    assert len(emulator.catalog_items) == 0


async def test_get_item_fields_and_404(http: Client) -> None:
    await _create(http, ITEMS, item_doc("G-1", price=9.5))
    status, doc, _ = await http.get(url(ITEMS, cid("G-1")), **{"fields[catalog-item]": "title,price"})
    assert status == 200
    assert doc["data"]["attributes"] == {"title": "Item G-1", "price": 9.5}
    status, doc, _ = await http.get(url(ITEMS, cid("G-1")), include="variants")
    assert status == 200 and doc["included"] == [] and doc["data"]["relationships"]["variants"]["data"] == []
    status, doc, _ = await http.get(url(ITEMS, cid("G-1")), **{"fields[catalog-item]": "sku"})
    assert status == 400 and only_error(doc)["source"] == {"parameter": "fields[catalog-item]"}
    status, doc, _ = await http.get(url(ITEMS, cid("MISSING")))
    assert status == 404
    assert only_error(doc)["detail"] == f"A catalog item with id {cid('MISSING')} does not exist."


async def test_update_item_patch_semantics(http: Client, emulator: KlaviyoEmulator) -> None:
    a = await _create(http, CATEGORIES, category_doc("A"))
    b = await _create(http, CATEGORIES, category_doc("B"))
    await _create(http, ITEMS, item_doc("U-1", categories=(a["id"],), price=10, image_full_url="https://i/1"))
    patch = {
        "data": {
            "type": "catalog-item",
            "id": cid("U-1"),
            "attributes": {"title": "New", "price": None, "published": False},
            "relationships": {"categories": {"data": [{"type": "catalog-category", "id": b["id"]}]}},
        }
    }
    status, doc, _ = await http.patch(url(ITEMS, cid("U-1")), patch)
    assert status == 200
    attrs = doc["data"]["attributes"]
    assert (attrs["title"], attrs["price"], attrs["published"]) == ("New", None, False)
    assert attrs["image_full_url"] == "https://i/1"  # absent = unchanged
    state = emulator.catalog_items[cid("U-1")]
    assert state["category_ids"] == [b["id"]] and state["updated"] >= state["created"]
    assert emulator.catalog_categories[a["id"]]["item_ids"] == []


async def test_update_item_errors(http: Client) -> None:
    await _create(http, ITEMS, item_doc("E-1"))
    path = url(ITEMS, cid("E-1"))

    def body(rid: str = cid("E-1"), **attrs: Any) -> dict[str, Any]:
        return {"data": {"type": "catalog-item", "id": rid, "attributes": attrs}}

    status, doc, _ = await http.patch(path, body(external_id="E-2"))
    assert status == 400 and only_error(doc)["source"] == {"pointer": "/data/attributes/external_id"}
    status, doc, _ = await http.patch(path, body(price=True))
    assert status == 400 and only_error(doc)["source"] == {"pointer": "/data/attributes/price"}
    status, doc, _ = await http.patch(path, body(rid=cid("OTHER"), title="x"))
    assert status == 409 and only_error(doc)["source"] == {"pointer": "/data/id"}
    status, doc, _ = await http.patch(url(ITEMS, cid("GONE")), body(rid=cid("GONE"), title="x"))
    assert status == 404


async def test_delete_item_204_then_404_and_memberships_dropped(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    category = await _create(http, CATEGORIES, category_doc("C"))
    await _create(http, ITEMS, item_doc("D-1", categories=(category["id"],)))
    status, doc, _ = await http.call("DELETE", url(ITEMS, cid("D-1")))
    assert (status, doc) == (204, None)
    assert cid("D-1") not in emulator.catalog_items
    assert emulator.catalog_categories[category["id"]]["item_ids"] == []
    status, doc, _ = await http.call("DELETE", url(ITEMS, cid("D-1")))
    assert status == 404 and only_error(doc)["code"] == "not_found"


async def test_list_items_paging_sort_and_filters(http: Client, emulator: KlaviyoEmulator) -> None:
    shoes = await _create(http, CATEGORIES, category_doc("SHOES"))
    for n in range(5):
        cats = (shoes["id"],) if n % 2 == 0 else ()
        await _create(
            http,
            ITEMS,
            item_doc(
                f"L-{n}", categories=cats, title=f"Red shoe {n}" if n < 3 else f"Hat {n}", published=n != 4
            ),
        )
    seen: list[str] = []
    status, doc, _ = await http.get(ITEMS, **{"page[size]": "2"})
    while True:
        assert status == 200 and len(doc["data"]) <= 2
        seen += [d["id"] for d in doc["data"]]
        if "next" not in doc["links"]:
            break
        status, doc, _ = await http.get(doc["links"]["next"])
    assert sorted(seen) == sorted(emulator.catalog_items) and len(seen) == 5
    status, doc, _ = await http.get(ITEMS, sort="-created")
    assert [d["id"] for d in doc["data"]] == sorted(
        seen, key=lambda i: (emulator.catalog_items[i]["created"], i), reverse=True
    )

    async def ids(flt: str) -> list[str]:
        status, doc, _ = await http.get(ITEMS, filter=flt)
        assert status == 200, doc
        return sorted(d["attributes"]["external_id"] for d in doc["data"])

    assert await ids(f'any(ids,["{cid("L-1")}","{cid("L-3")}","{cid("nope")}"])') == ["L-1", "L-3"]
    assert await ids(f'equals(category.id,"{shoes["id"]}")') == ["L-0", "L-2", "L-4"]
    assert await ids('contains(title,"shoe")') == ["L-0", "L-1", "L-2"]
    assert await ids("equals(published,false)") == ["L-4"]
    assert await ids(f'equals(category.id,"{shoes["id"]}"),contains(title,"Hat")') == ["L-4"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"filter": 'equals(title,"x")'}, "filter"),
        ({"filter": 'equals(external_id,"x")'}, "filter"),
        ({"filter": 'any(category.id,["x"])'}, "filter"),
        ({"page[size]": "101"}, "page[size]"),
        ({"sort": "updated"}, "sort"),
        ({"include": "categories"}, "include"),
    ],
)
async def test_list_items_rejects_what_the_spec_does_not_allow(
    http: Client, params: dict[str, str], parameter: str
) -> None:
    status, doc, _ = await http.get(ITEMS, **params)
    assert status == 400
    assert only_error(doc)["source"] == {"parameter": parameter}


async def test_categories_crud_and_filters(http: Client, emulator: KlaviyoEmulator) -> None:
    await _create(http, ITEMS, item_doc("I-1"))
    status, doc, _ = await http.post(CATEGORIES, category_doc("CAT-1", "Summer Sale", items=(cid("I-1"),)))
    assert status == 201
    data = doc["data"]
    assert (data["type"], data["id"]) == ("catalog-category", cid("CAT-1"))
    assert set(data["attributes"]) == {"external_id", "name", "updated"}
    assert set(data["relationships"]["items"]["links"]) == {"self", "related"}
    await _create(http, CATEGORIES, category_doc("CAT-2", "Winter"))
    status, doc, _ = await http.get(CATEGORIES, filter=f'equals(item.id,"{cid("I-1")}")')
    assert [d["id"] for d in doc["data"]] == [cid("CAT-1")]
    status, doc, _ = await http.get(
        CATEGORIES, filter='contains(name,"Wint")', **{"fields[catalog-category]": "name"}
    )
    assert [d["attributes"] for d in doc["data"]] == [{"name": "Winter"}]
    status, doc, _ = await http.get(CATEGORIES, filter=f'any(ids,["{cid("CAT-2")}"])')
    assert [d["id"] for d in doc["data"]] == [cid("CAT-2")]

    patch = {"data": {"type": "catalog-category", "id": cid("CAT-1"), "attributes": {"name": "Autumn"}}}
    status, doc, _ = await http.patch(url(CATEGORIES, cid("CAT-1")), patch)
    assert status == 200 and doc["data"]["attributes"]["name"] == "Autumn"
    assert emulator.catalog_categories[cid("CAT-1")]["item_ids"] == [cid("I-1")]  # no relationship: kept
    patch["data"]["attributes"] = {"external_id": "CAT-9"}
    status, doc, _ = await http.patch(url(CATEGORIES, cid("CAT-1")), patch)
    assert status == 400 and only_error(doc)["source"] == {"pointer": "/data/attributes/external_id"}

    status, doc, _ = await http.get(url(CATEGORIES, cid("CAT-1")))
    assert status == 200 and doc["data"]["attributes"]["name"] == "Autumn"
    status, _, _ = await http.call("DELETE", url(CATEGORIES, cid("CAT-1")))
    assert status == 204
    assert emulator.catalog_items[cid("I-1")]["category_ids"] == []
    status, doc, _ = await http.get(url(CATEGORIES, cid("CAT-1")))
    assert status == 404
    assert only_error(doc)["detail"] == f"A catalog category with id {cid('CAT-1')} does not exist."


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"name": "x"}, "/data/attributes/external_id"),
        ({"external_id": "c"}, "/data/attributes/name"),
        ({"external_id": "c", "name": 3}, "/data/attributes/name"),
        (
            {"external_id": "c", "name": "n", "integration_type": "$other"},
            "/data/attributes/integration_type",
        ),
        ({"external_id": "c", "name": "n", "title": "t"}, "/data/attributes/title"),
    ],
)
async def test_category_create_validation(http: Client, attributes: dict[str, Any], pointer: str) -> None:
    status, doc, _ = await http.post(
        CATEGORIES, {"data": {"type": "catalog-category", "attributes": attributes}}
    )
    assert status == 400
    assert only_error(doc)["source"] == {"pointer": pointer}


async def test_catalog_writes_are_rate_limited(http: Client, emulator: KlaviyoEmulator) -> None:
    status, _, headers = await http.post(ITEMS, item_doc("RL-0"))
    assert status == 201 and headers["RateLimit-Limit"] == "75"
    status, _, headers = await http.get(ITEMS)
    assert headers["RateLimit-Limit"] == "350"
