"""Subscription delivery of the commerce resources' Messages and change notifications."""

from __future__ import annotations

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .commerce_support import product_draft
from .conftest import PROJECT
from .test_subscription import Receiver, receiver  # noqa: F401 - the push endpoint fixture

IMPORT = {
    "orderNumber": "S-1",
    "totalPrice": {"currencyCode": "EUR", "centAmount": 0},
    "customerEmail": "a@example.com",
}


async def test_category_deletion_is_seen_as_resource_deleted(receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url)
    await emu.start()
    try:
        root = emu.create_category({"name": {"en": "Root"}, "slug": {"en": "root"}, "key": "root"})
        child = emu.create_category(
            {"name": {"en": "Kid"}, "slug": {"en": "kid"}, "parent": {"typeId": "category", "id": root["id"]}}
        )
        emu.update_category(root["id"], 1, [{"action": "changeName", "name": {"en": "Top"}}])
        emu.delete_category(root["id"], 2)
        await emu.drain_deliveries(timeout=10)
    finally:
        await emu.stop()
    payloads = rec.payloads
    assert [p.get("type") or p["notificationType"] for p in payloads] == [
        "CategoryCreated",
        "ResourceCreated",
        "CategoryCreated",
        "ResourceCreated",
        "ResourceUpdated",  # changeName: no Message type
        "ResourceDeleted",
        "ResourceDeleted",  # the subcategory goes with its parent
    ]
    deleted_root, deleted_child = payloads[-2:]
    assert deleted_root == {
        "notificationType": "ResourceDeleted",
        "projectKey": PROJECT,
        "resource": {"typeId": "category", "id": root["id"]},
        "resourceUserProvidedIdentifiers": {"key": "root", "slug": {"en": "root"}},
        "version": 3,
        "modifiedAt": deleted_root["modifiedAt"],
    }
    assert deleted_child["resource"]["id"] == child["id"] and deleted_child["version"] == 2
    assert payloads[0]["category"] == root and payloads[0]["projectKey"] == PROJECT


async def test_order_and_product_notifications_in_cloudevents(receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url, subscription_format="CloudEvents")
    await emu.start()
    try:
        product = emu.create_product(product_draft(1))
        order = emu.import_order(IMPORT)
        emu.update_order(order["id"], 1, [{"action": "changeOrderState", "orderState": "Confirmed"}])
        category = emu.create_category({"name": {"en": "C"}, "slug": {"en": "cat"}})
        await emu.drain_deliveries(timeout=10)
    finally:
        await emu.stop()
    events = rec.payloads
    assert [(e["type"], e["source"]) for e in events] == [
        ("com.commercetools.product.message.ProductCreated", f"/{PROJECT}/products"),
        ("com.commercetools.product.change.ResourceCreated", f"/{PROJECT}/products"),
        ("com.commercetools.order.message.OrderImported", f"/{PROJECT}/orders"),
        ("com.commercetools.order.change.ResourceCreated", f"/{PROJECT}/orders"),
        ("com.commercetools.order.message.OrderStateChanged", f"/{PROJECT}/orders"),
        ("com.commercetools.order.change.ResourceUpdated", f"/{PROJECT}/orders"),
        ("com.commercetools.category.message.CategoryCreated", f"/{PROJECT}/categories"),
        ("com.commercetools.category.change.ResourceCreated", f"/{PROJECT}/categories"),
    ]
    assert events[0]["subject"] == product["id"] and events[2]["data"]["order"]["orderNumber"] == "S-1"
    state_changed = events[4]
    assert state_changed["sequence"] == "2" and state_changed["data"]["oldOrderState"] == "Open"
    assert state_changed["data"]["resourceUserProvidedIdentifiers"] == {"orderNumber": "S-1"}
    assert events[5]["data"]["oldVersion"] == 1 and events[5]["data"]["version"] == 2
    assert events[7]["subject"] == category["id"]
