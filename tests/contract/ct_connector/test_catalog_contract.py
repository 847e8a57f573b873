"""Categories and products through the commercetools connector against the emulator, over real HTTP:
reads with ancestors, published / unpublished / deleted products, subtrees, the feed (messages plus
the lastModifiedAt scan) and pushed change notifications (the only sign of a category deletion)."""

from __future__ import annotations

from typing import Any

from crmsync.connectors.commercetools import CommercetoolsConnector
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.mapping.catalog import CatalogRules, category_payload, product_payload
from crmsync.ports import ChangeEvent

from .test_emulator_contract import Setup, setup  # noqa: F401  (fixture)
from .test_ingress_contract import Receiver, receiver  # noqa: F401  (fixture)


def category(
    emu: CommercetoolsEmulator, key: str, en: str, de: str, parent: dict[str, Any] | None = None
) -> dict[str, Any]:
    draft: dict[str, Any] = {"key": key, "name": {"en": en, "de": de}, "slug": {"en": key, "de": f"{key}-de"}}
    if parent is not None:
        draft["parent"] = {"typeId": "category", "id": parent["id"]}
    created: dict[str, Any] = emu.create_category(draft)
    return created


def tree(emu: CommercetoolsEmulator) -> dict[str, dict[str, Any]]:
    women = category(emu, "women", "Women", "Damen")
    pants = category(emu, "pants", "Pants", "Hosen", women)
    jeans = category(emu, "jeans", "Jeans", "Jeans", pants)
    men = category(emu, "men", "Men", "Herren")
    return {"women": women, "pants": pants, "jeans": jeans, "men": men}


def product(
    emu: CommercetoolsEmulator, n: int, *categories: dict[str, Any], publish: bool = True
) -> dict[str, Any]:
    created: dict[str, Any] = emu.create_product(
        {
            "key": f"p-{n}",
            "productType": {"typeId": "product-type", "key": "generic"},
            "name": {"en": f"Product {n}", "de": f"Produkt {n}"},
            "slug": {"en": f"product-{n}", "de": f"produkt-{n}"},
            "categories": [{"typeId": "category", "id": c["id"]} for c in categories],
            "masterVariant": {
                "sku": f"SKU-{n}",
                "prices": [
                    {"value": {"currencyCode": "EUR", "centAmount": 1000 * n}},
                    {"value": {"currencyCode": "EUR", "centAmount": 900 * n}, "country": "DE"},
                ],
                "images": [{"url": f"https://img.example.com/{n}.jpg", "dimensions": {"w": 10, "h": 10}}],
            },
            "publish": publish,
        }
    )
    return created


def by_type(events: list[ChangeEvent]) -> dict[str, list[ChangeEvent]]:
    out: dict[str, list[ChangeEvent]] = {}
    for event in events:
        out.setdefault(event.event_type, []).append(event)
    return out


async def test_categories_are_read_with_their_ancestors(setup: Setup) -> None:  # noqa: F811
    cats = tree(setup.emu)
    connector = setup.connector()
    pages = [page async for page in connector.read_pages("category", page_size=2)]
    assert [len(p) for p in pages] == [2, 2]
    records = [r for page in pages for r in page]
    assert [r.id for r in records] == sorted(c["id"] for c in cats.values())
    names = {r.id: category_payload(r.data)["name"] for r in records}
    assert names[cats["jeans"]["id"]] == "Women > Pants > Jeans"
    assert names[cats["men"]["id"]] == "Men"
    assert all(r.kind == "category" and r.version == 1 for r in records)
    assert all(url.query.getall("expand") == ["ancestors[*]"] for url in setup.urls("categories"))

    wanted = [cats["jeans"]["id"], "missing", cats["women"]["id"]]
    found = await connector.read_by_ids("category", wanted)
    assert [r.id for r in found] == [cats["jeans"]["id"], cats["women"]["id"]]
    german = category_payload(found[0].data, CatalogRules(locale="de"))
    assert german == {"external_id": cats["jeans"]["id"], "name": "Damen > Hosen > Jeans"}


async def test_descendants_follow_a_rename_of_their_ancestor(setup: Setup) -> None:  # noqa: F811
    emu = setup.emu
    cats = tree(emu)
    connector = setup.connector()
    below = await connector.descendants(cats["women"]["id"])
    assert below == sorted([cats["pants"]["id"], cats["jeans"]["id"]])
    assert await connector.descendants(cats["jeans"]["id"]) == []
    assert await connector.descendants("no-such-category") == []
    emu.update_category(cats["women"]["id"], 1, [{"action": "changeName", "name": {"en": "Ladies"}}])
    assert emu.categories[cats["jeans"]["id"]]["version"] == 1  # the rename wrote nothing on the subtree
    renamed = await connector.read_by_ids("category", below)
    assert sorted(category_payload(r.data)["name"] for r in renamed) == [
        "Ladies > Pants",
        "Ladies > Pants > Jeans",
    ]


async def test_published_unpublished_and_deleted_products(setup: Setup) -> None:  # noqa: F811
    emu = setup.emu
    cats = tree(emu)
    live = product(emu, 1, cats["jeans"], cats["women"])
    pulled = product(emu, 2, cats["men"])
    pulled = emu.update_product(pulled["id"], pulled["version"], [{"action": "unpublish"}])
    draft = product(emu, 3, publish=False)
    gone = product(emu, 4)
    emu.delete_product(gone["id"], gone["version"])
    # a staged change is not visible in the published projection
    emu.update_product(live["id"], live["version"], [{"action": "changeName", "name": {"en": "Renamed"}}])
    connector = setup.connector()

    records = [r for page in [p async for p in connector.read_pages("product")] for r in page]
    assert [r.id for r in records] == [live["id"]]
    assert all(url.query["staged"] == "false" for url in setup.urls("product-projections"))
    payload = product_payload(records[0].data, CatalogRules(country="DE"))
    assert payload == {
        "external_id": live["id"],
        "title": "Product 1",
        "description": "",
        "url": "https://shop.example.com/en/p/product-1",
        "published": True,
        "categories": [cats["jeans"]["id"], cats["women"]["id"]],
        "price": 9.0,
        "image_full_url": "https://img.example.com/1.jpg",
        "image_thumbnail_url": "https://img.example.com/1.jpg",
        "images": ["https://img.example.com/1.jpg"],
        "custom_metadata": {
            "sku": "SKU-1",
            "key": "p-1",
            "title_de": "Produkt 1",
            "url_de": "https://shop.example.com/de/p/produkt-1",
        },
    }

    ids = [gone["id"], draft["id"], pulled["id"], live["id"]]
    found = await connector.read_by_ids("product", ids)
    assert [r.id for r in found] == [draft["id"], pulled["id"], live["id"]]  # only the deleted one is absent
    published = {r.id: product_payload(r.data)["published"] for r in found}
    assert published == {draft["id"]: False, pulled["id"]: False, live["id"]: True}
    assert found[1].version == pulled["version"] and found[1].data["name"]["en"] == "Product 2"
    assert found[2].data["name"]["en"] == "Product 1"  # the published data, not the staged rename


async def test_feed_reports_category_changes_that_write_no_message(setup: Setup) -> None:  # noqa: F811
    emu = setup.emu
    connector = setup.connector()
    _, cursor = await connector.poll_changes(["category"], None)
    cat = category(emu, "hats", "Hats", "Hüte")
    cat = emu.update_category(cat["id"], 1, [{"action": "changeName", "name": {"en": "Caps"}}])
    cat = emu.update_category(cat["id"], 2, [{"action": "changeSlug", "slug": {"en": "caps"}}])
    product(emu, 1)  # other kinds are not reported

    events, cursor = await connector.poll_changes(["category"], cursor)
    types = by_type(events)
    assert sorted(types) == ["CategoryCreated", "CategorySlugChanged", "ResourceModified"]
    assert all(e.kind == "category" and e.resource_id == cat["id"] and e.needs_fetch for e in events)
    [modified] = types["ResourceModified"]
    assert modified.event_id == f"{cat['id']}:3" and modified.resource_version == 3
    assert "modified" in cursor and cursor["modified"]["category"]["recent_ids"] == [f"{cat['id']}:3"]

    again, cursor = await connector.poll_changes(["category"], cursor)
    assert again == []  # the overlap window re-reads, the cursor de-duplicates
    emu.update_category(cat["id"], 3, [{"action": "changeName", "name": {"en": "Hats"}}])
    renamed, cursor = await connector.poll_changes(["category"], cursor)
    assert [(e.event_type, e.event_id) for e in renamed] == [("ResourceModified", f"{cat['id']}:4")]

    legacy = {k: v for k, v in cursor.items() if k != "modified"}  # written before the scan existed
    emu.update_category(cat["id"], 4, [{"action": "changeName", "name": {"en": "Hat"}}])
    resumed, cursor = await connector.poll_changes(["category"], legacy)
    assert [e.event_id for e in resumed] == [f"{cat['id']}:5"]  # starts where the message window does
    assert cursor["modified"]["category"]["recent_ids"] == [f"{cat['id']}:5"]


async def test_feed_reports_product_events(setup: Setup) -> None:  # noqa: F811
    emu = setup.emu
    connector: CommercetoolsConnector = setup.connector()
    _, cursor = await connector.poll_changes(["product"], None)
    kept = product(emu, 1)
    kept = emu.update_product(
        kept["id"], 1, [{"action": "changeName", "name": {"en": "Direct"}, "staged": False}]
    )
    pulled = product(emu, 2)
    emu.update_product(pulled["id"], 1, [{"action": "unpublish"}])
    gone = product(emu, 3)
    emu.delete_product(gone["id"], 1)

    events, _ = await connector.poll_changes(["product"], cursor)
    seen = {(e.event_type, e.resource_id, e.deleted) for e in events}
    assert ("ProductCreated", kept["id"], False) in seen
    assert ("ResourceModified", kept["id"], False) in seen  # changeName (staged: false) writes no Message
    assert ("ProductUnpublished", pulled["id"], False) in seen  # not a deletion: re-read
    assert ("ProductDeleted", gone["id"], True) in seen
    assert all(e.kind == "product" for e in events)
    assert {e.resource_id for e in events if e.deleted} == {gone["id"]}
    refetched = await connector.read_by_ids("product", [e.resource_id for e in events if e.needs_fetch])
    assert {r.id: r.data["published"] for r in refetched} == {kept["id"]: True, pulled["id"]: False}


async def test_pushed_changes_carry_category_deletions(receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    rec, url = receiver
    emu = CommercetoolsEmulator("push-catalog", subscription_url=url)
    await emu.start()
    try:
        cats = tree(emu)
        emu.update_category(cats["men"]["id"], 1, [{"action": "changeName", "name": {"en": "Gents"}}])
        emu.delete_category(cats["women"]["id"], 1)  # and its subtree
        doomed = product(emu, 1)
        emu.delete_product(doomed["id"], 1)
        await emu.drain_deliveries(timeout=20)
    finally:
        await emu.stop()
    assert rec.errors == []
    categories = [e for e in rec.events if e.kind == "category"]
    deleted = {e.resource_id for e in categories if e.deleted}
    assert deleted == {cats[k]["id"] for k in ("women", "pants", "jeans")}
    assert all(e.event_type == "ResourceDeleted" for e in categories if e.deleted)
    [renamed] = [
        e for e in categories if e.event_type == "ResourceUpdated" and e.resource_id == cats["men"]["id"]
    ]
    assert renamed.needs_fetch and renamed.event_id == f"{cats['men']['id']}:2"
    products = {(e.event_type, e.deleted) for e in rec.events if e.kind == "product"}
    assert {("ProductCreated", False), ("ProductDeleted", True), ("ResourceDeleted", True)} <= products


async def test_descendants_page_past_500(setup: Setup) -> None:  # noqa: F811
    emu = setup.emu
    root = category(emu, "root", "Root", "Wurzel")
    children = [category(emu, f"c-{i:03d}", f"C{i}", f"K{i}", root)["id"] for i in range(501)]
    connector = setup.connector()
    assert await connector.descendants(root["id"]) == sorted(children)
    assert len(setup.urls("categories")) == 2
