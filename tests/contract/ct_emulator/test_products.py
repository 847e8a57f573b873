"""Products and product projections over HTTP: staged/current data, publishing, prices, Messages."""

from __future__ import annotations

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .commerce_support import created, error_code, messages_of, price, product_draft, updated
from .conftest import Api


async def test_create_makes_staged_and_current_data(api: Api, emu: CommercetoolsEmulator) -> None:
    product = await created(api, "/products", product_draft(1, publish=False))
    master = product["masterData"]
    assert master["current"] == master["staged"] and (master["published"], master["hasStagedChanges"]) == (
        False,
        False,
    )
    variant = master["current"]["masterVariant"]
    assert variant["id"] == 1 and variant["sku"] == "SKU-1" and master["current"]["variants"][0]["id"] == 2
    assert variant["prices"][0]["value"] == {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": 1000,
        "fractionDigits": 2,
    }
    assert all(len(p["id"]) == 36 for p in variant["prices"]) and variant["prices"][1]["country"] == "DE"
    assert product["productType"]["typeId"] == "product-type"
    status, product_type = await api.get("/product-types/key=generic")
    assert status == 200 and product_type["id"] == product["productType"]["id"]  # created on first use
    (message,) = messages_of(emu, product["id"])
    assert message["type"] == "ProductCreated" and message["resourceUserProvidedIdentifiers"] == {
        "key": "product-1",
        "slug": {"en": "product-1"},
    }
    projection = message["productProjection"]
    assert (
        projection["id"] == product["id"] and projection["published"] is False and projection["version"] == 1
    )
    assert (await api.get(f"/product-projections/{product['id']}"))[0] == 404  # not published
    status, staged = await api.get(f"/product-projections/{product['id']}", staged="true")
    assert status == 200 and staged == projection
    assert await api.get("/products/key=product-1") == (200, product)


async def test_publish_unpublish_and_staged_changes(api: Api, emu: CommercetoolsEmulator) -> None:
    product = await created(api, "/products", product_draft(2, publish=False))
    published = await updated(api, "/products", product, {"action": "publish"})
    assert published["masterData"]["published"] is True and published["version"] == 2
    status, current = await api.get(f"/product-projections/{product['id']}")
    assert status == 200 and current["published"] is True and current["version"] == 2
    msg = messages_of(emu, product["id"])[-1]
    assert msg["type"] == "ProductPublished" and msg["scope"] == "All" and msg["removedImageUrls"] == []
    assert msg["productProjection"] == current and msg["resourceVersion"] == 2
    renamed = await updated(api, "/products", published, {"action": "changeName", "name": {"en": "Renamed"}})
    assert renamed["masterData"]["hasStagedChanges"] is True
    assert renamed["masterData"]["staged"]["name"] == {"en": "Renamed"}
    assert renamed["masterData"]["current"]["name"] == {"en": "Product 2"}
    assert messages_of(emu, product["id"])[-1]["type"] == "ProductPublished"  # changeName has no Message
    _, current = await api.get(f"/product-projections/{product['id']}")
    assert current["name"] == {"en": "Product 2"} and current["hasStagedChanges"] is True
    live = await updated(
        api, "/products", renamed, {"action": "setDescription", "description": {"en": "Now"}, "staged": False}
    )
    assert live["masterData"]["current"]["description"] == {"en": "Now"}
    again = await updated(api, "/products", live, {"action": "publish"})
    assert again["masterData"]["hasStagedChanges"] is False
    assert again["masterData"]["current"]["name"] == {"en": "Renamed"}
    hidden = await updated(api, "/products", again, {"action": "unpublish"})
    assert hidden["masterData"]["published"] is False
    assert messages_of(emu, product["id"])[-1]["type"] == "ProductUnpublished"
    assert (await api.get(f"/product-projections/{product['id']}"))[0] == 404


async def test_categories_and_prices_write_their_messages(api: Api, emu: CommercetoolsEmulator) -> None:
    category = await created(api, "/categories", {"name": {"en": "C"}, "slug": {"en": "cat"}, "key": "cat"})
    product = await created(api, "/products", product_draft(3))
    ref = {"typeId": "category", "id": category["id"]}
    step = await updated(
        api,
        "/products",
        product,
        {"action": "addToCategory", "category": {"typeId": "category", "key": "cat"}},
    )
    assert (
        step["masterData"]["staged"]["categories"] == [ref]
        and step["masterData"]["current"]["categories"] == []
    )
    price_id = step["masterData"]["staged"]["masterVariant"]["prices"][0]["id"]
    step = await updated(
        api,
        "/products",
        step,
        {"action": "changePrice", "priceId": price_id, "price": price("EUR", 1200), "staged": False},
        {"action": "addPrice", "variantId": 2, "price": price("USD", 2100)},
        {"action": "setPrices", "sku": "SKU-3-2", "prices": [price("GBP", 1700)], "staged": False},
        {"action": "removeFromCategory", "category": ref},
    )
    assert step["masterData"]["current"]["masterVariant"]["prices"][0]["value"]["centAmount"] == 1200
    assert step["masterData"]["current"]["masterVariant"]["prices"][0]["id"] == price_id
    assert [p["value"]["currencyCode"] for p in step["masterData"]["current"]["variants"][0]["prices"]] == [
        "GBP"
    ]
    messages = messages_of(emu, product["id"])[1:]
    assert [m["type"] for m in messages] == [
        "ProductAddedToCategory",
        "ProductPriceChanged",
        "ProductPriceAdded",
        "ProductPricesSet",
        "ProductRemovedFromCategory",
    ]
    added, changed, price_added, prices_set, _ = messages
    assert added["category"] == ref and added["staged"] is True
    assert changed["variantId"] == 1 and changed["oldPrice"]["value"]["centAmount"] == 1000
    assert changed["newPrice"]["value"]["centAmount"] == 1200 and changed["staged"] is False
    assert "oldStagedPrice" not in changed
    assert price_added["variantId"] == 2 and price_added["price"]["value"]["currencyCode"] == "USD"
    assert prices_set["variantId"] == 2 and prices_set["staged"] is False
    assert [m["sequenceNumber"] for m in messages_of(emu, product["id"])] == [1, 2, 3, 4, 5, 6]
    assert {m["resourceVersion"] for m in messages} == {2, 3}
    status, body = await api.post(
        f"/products/{product['id']}",
        {"version": 3, "actions": [{"action": "addPrice", "variantId": 1, "price": price("EUR", 1)}]},
    )
    assert status == 400 and error_code(body) == "DuplicatePriceScope"


async def test_delete_writes_product_deleted(api: Api, emu: CommercetoolsEmulator) -> None:
    product = await created(api, "/products", product_draft(4))
    status, body = await api.call("DELETE", f"/products/{product['id']}", params={"version": "2"})
    assert status == 409 and error_code(body) == "ConcurrentModification"
    status, body = await api.call("DELETE", f"/products/{product['id']}", params={"version": "1"})
    assert status == 200 and body == product
    message = messages_of(emu, product["id"])[-1]
    assert message["type"] == "ProductDeleted" and message["resourceVersion"] == 2
    assert message["removedImageUrls"] == ["https://img.example.com/4.jpg"]
    assert message["currentProjection"]["id"] == product["id"]
    assert (await api.get(f"/products/{product['id']}"))[0] == 404
    assert (await api.get(f"/product-projections/{product['id']}"))[0] == 404


async def test_uniqueness_and_references(api: Api) -> None:
    await created(api, "/products", product_draft(5))
    status, body = await api.post("/products", {**product_draft(6), "slug": {"en": "product-5"}})
    assert status == 400 and error_code(body) == "DuplicateField" and body["errors"][0]["field"] == "slug.en"
    duplicate_sku = product_draft(7)
    duplicate_sku["masterVariant"]["sku"] = "SKU-5"
    status, body = await api.post("/products", duplicate_sku)
    assert status == 400 and error_code(body) == "DuplicateField" and body["errors"][0]["field"] == "sku"
    status, body = await api.post(
        "/products", {**product_draft(8), "categories": [{"typeId": "category", "id": "nope"}]}
    )
    assert status == 400 and error_code(body) == "ReferencedResourceNotFound"


async def test_projection_queries(api: Api) -> None:
    for n in range(10, 16):
        await created(api, "/products", product_draft(n, publish=n % 2 == 0))
    status, page = await api.get("/product-projections", limit="2", sort="key asc")
    assert (
        status == 200
        and page["total"] == 3
        and [p["key"] for p in page["results"]] == ["product-10", "product-12"]
    )
    _, page = await api.get("/product-projections", staged="true", withTotal="false", limit="500")
    assert "total" not in page and page["count"] == 6
    _, page = await api.get("/product-projections", where='masterVariant(sku = "SKU-14")')
    assert [p["key"] for p in page["results"]] == ["product-14"]
    status, _ = await api.get("/product-projections", where='masterVariant(sku = "SKU-13")')
    _, page = await api.get("/product-projections", where='masterVariant(sku = "SKU-13")')
    assert status == 200 and page["results"] == []  # unpublished: only in the staged projections
    _, page = await api.get("/products", where='key = "product-13"')
    assert page["count"] == 1 and page["results"][0]["masterData"]["published"] is False
