"""Category and product messages / change notifications → change events; product reads by id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest

from crmsync.connectors.commercetools import create
from crmsync.connectors.commercetools.catalog import CatalogChanges, resource_to_event
from crmsync.connectors.commercetools.events import (
    CATEGORY_MESSAGE_TYPES,
    PRODUCT_MESSAGE_TYPES,
    message_to_event,
)
from crmsync.connectors.commercetools.feed import MessageFeed
from crmsync.connectors.commercetools.ingress import parse_ingress
from crmsync.connectors.commercetools.transport import Response
from crmsync.errors import ConfigError, IngressError
from crmsync.ports import ChangeEvent

from .payloads import body, change, cloudevent, message

# Messages whose names start with "Product" but whose resource is a product selection or tailoring.
OTHER_RESOURCES = re.compile(r"^(ProductSelection|ProductTailoring|ProductVariantTailoring)")
COMMON_FIELDS = {
    "id",
    "version",
    "createdAt",
    "lastModifiedAt",
    "lastModifiedBy",
    "createdBy",
    "sequenceNumber",
    "resource",
    "resourceVersion",
    "type",
    "resourceUserProvidedIdentifiers",
}
SETTINGS = {
    "type": "commercetools",
    "project_key": "proj",
    "api_url": "https://api.example.com",
    "auth_url": "https://auth.example.com",
    "client_id": "cid",
    "client_secret": "secret",
}


def one(raw: bytes) -> ChangeEvent:
    (event,) = parse_ingress(raw, {})
    return event


def message_schemas(spec: str, prefix: str) -> dict[str, set[str]]:
    """``{type: its own fields}`` of every ``<prefix>*Message`` schema, read from the YAML text (parsing
    the 3 MB spec as YAML takes seconds): properties sit 12 spaces deep in the schema's ``allOf``."""
    found: dict[str, set[str]] = {}
    pattern = rf"^    ({prefix}\w+)Message:\n((?:(?:      .*)?\n)*)"
    for match in re.finditer(pattern, spec, flags=re.MULTILINE):
        if not OTHER_RESOURCES.match(match[1]):
            fields = set(re.findall(r"^            (\w+):$", match[2], flags=re.MULTILINE))
            found[match[1]] = fields - COMMON_FIELDS
    return found


@pytest.fixture(scope="module")
def openapi(specs_dir: Path) -> str:
    return (specs_dir / "commercetools" / "openapi.yaml").read_text()


@pytest.mark.specs
@pytest.mark.parametrize(
    ("prefix", "table"), [("Category", CATEGORY_MESSAGE_TYPES), ("Product", PRODUCT_MESSAGE_TYPES)]
)
def test_message_type_tables_match_the_openapi(openapi: str, prefix: str, table: dict[str, Any]) -> None:
    schemas = message_schemas(openapi, prefix)
    assert schemas, f"no {prefix}*Message schemas found in the OpenAPI"
    assert set(schemas) == set(table)
    for name, spec_type in table.items():
        assert set(spec_type.fields) == schemas[name], name


def test_category_created_is_re_read_for_its_ancestors() -> None:
    category = {
        "id": "cat-1",
        "version": 1,
        "name": {"en": "Hats"},
        "ancestors": [{"typeId": "category", "id": "root"}],
    }
    event = one(body(message("CategoryCreated", type_id="category", resource_id="cat-1", category=category)))
    assert (event.kind, event.resource_id, event.event_type) == ("category", "cat-1", "CategoryCreated")
    assert event.record is None and event.needs_fetch and event.resource_version == 2


def test_category_deletion_comes_as_a_change_notification() -> None:
    event = one(body(change("ResourceDeleted", type_id="category", resource_id="cat-1", version=4)))
    assert (event.kind, event.event_id, event.deleted, event.needs_fetch) == (
        "category",
        "cat-1:4",
        True,
        False,
    )
    updated = one(
        body(change("ResourceUpdated", type_id="category", resource_id="cat-1", version=5, oldVersion=4))
    )
    assert updated.kind == "category" and updated.needs_fetch
    ce = cloudevent(
        change("ResourceDeleted", type_id="category", resource_id="cat-1", version=4),
        "com.commercetools.category.change.ResourceDeleted",
    )
    assert one(body(ce)).deleted


@pytest.mark.parametrize(
    ("message_type", "fields", "deleted"),
    [
        ("ProductCreated", {"productProjection": {"id": "prod-1"}}, False),
        (
            "ProductPublished",
            {"productProjection": {"id": "prod-1"}, "removedImageUrls": [], "scope": "All"},
            False,
        ),
        ("ProductUnpublished", {}, False),  # not a deletion: the re-read says published=false
        ("ProductDeleted", {"removedImageUrls": [], "currentProjection": {"id": "prod-1"}}, True),
        ("ProductPriceChanged", {"variantId": 1, "staged": False}, False),
        ("ProductSomethingNew", {}, False),  # unknown types re-read too
    ],
)
def test_product_messages(message_type: str, fields: dict[str, Any], deleted: bool) -> None:
    event = one(body(message(message_type, type_id="product", resource_id="prod-1", **fields)))
    assert (event.kind, event.resource_id, event.event_type) == ("product", "prod-1", message_type)
    assert event.deleted is deleted and event.record is None and event.needs_fetch is not deleted


@pytest.mark.parametrize("type_id", ["product-selection", "product-tailoring", "product-type"])
def test_neighbouring_resources_are_ignored(type_id: str) -> None:
    assert parse_ingress(body(message("ProductSelectionProductAdded", type_id=type_id)), {}) == []
    assert message_to_event(message("ProductTailoringCreated", type_id=type_id, platform=False)) is None


def test_scan_event_shares_the_change_notification_dedup_key() -> None:
    item = {"id": "cat-1", "version": 3, "lastModifiedAt": "2024-05-01T12:00:00.000Z", "name": {"en": "x"}}
    event = resource_to_event("category", "category", item)
    pushed = one(body(change("ResourceUpdated", type_id="category", resource_id="cat-1", version=3)))
    assert event.event_id == pushed.event_id == "cat-1:3"
    assert (event.event_type, event.sequence, event.resource_version) == ("ResourceModified", 3, 3)
    assert event.needs_fetch and event.raw["resource"] == {"typeId": "category", "id": "cat-1"}
    with pytest.raises(IngressError, match="version"):
        resource_to_event("category", "category", {**item, "version": "3"})


async def test_scan_refuses_a_malformed_cursor_part() -> None:
    scan = CatalogChanges(feed=cast(MessageFeed, None))  # never reached
    with pytest.raises(ConfigError, match="'modified'"):
        await scan.scan(["category"], {"last_created_at": "2024-01-01T00:00:00Z", "modified": []})
    with pytest.raises(ConfigError, match=r"'modified\.product'"):
        await scan.scan(["product"], {"modified": {"product": "2024"}})
    assert await scan.scan(["customer", "order"], None) == ([], {})


async def test_a_product_published_between_the_two_reads_is_read_as_published(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The published read misses it, the staged read says published: its published projection wins."""
    current = {"id": "p1", "version": 5, "published": True, "name": {"en": "current"}}
    staged = {"id": "p1", "version": 5, "published": True, "name": {"en": "staged"}}
    answers = [[], [staged], [current]]
    asked: list[list[tuple[str, str]]] = []

    async def request(method: str, path: Any, *, params: Any, operation: str, **_: Any) -> Response:
        assert (method, tuple(path), operation) == (
            "GET",
            ("product-projections",),
            "GET /product-projections",
        )
        asked.append(list(params))
        return Response(200, {"results": answers.pop(0)}, {}, "corr")

    connector = create("shop", SETTINGS)
    monkeypatch.setattr(connector.client, "request", request)
    [record] = await connector.read_by_ids("product", ["p1"])
    assert record.data["name"] == {"en": "current"} and record.data["published"] is True
    assert [dict(p)["staged"] for p in asked] == ["false", "true", "false"]
    await connector.aclose()


async def test_unpublished_and_deleted_products(monkeypatch: pytest.MonkeyPatch) -> None:
    staged = {"id": "p1", "version": 6, "published": False, "name": {"en": "gone from the shop"}}
    answers = [[], [staged]]

    async def request(method: str, path: Any, *, params: Any, operation: str, **_: Any) -> Response:
        where = dict(params)["where"]
        assert where == 'id in ("p1", "p2")'  # p2 was deleted: absent from both reads
        return Response(200, {"results": answers.pop(0)}, {}, None)

    connector = create("shop", SETTINGS)
    monkeypatch.setattr(connector.client, "request", request)
    [record] = await connector.read_by_ids("product", ["p1", "p2"])
    assert (record.id, record.version, record.data["published"]) == ("p1", 6, False)
    await connector.aclose()
