"""create(): settings validation; the connector's shape; batched reads by id within URL limits."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from crmsync.connectors.commercetools import CommercetoolsConnector, create
from crmsync.errors import ConfigError, PermanentError
from crmsync.ports import SourceConnector

from .fake_server import CLIENT_ID, CLIENT_SECRET, PROJECT, FakeCommercetools, serve

BASE: dict[str, Any] = {
    "type": "commercetools",
    "project_key": "my-proj",
    "api_url": "https://api.europe-west1.gcp.commercetools.com/",
    "auth_url": "https://auth.europe-west1.gcp.commercetools.com/oauth/token",
    "client_id": "cid",
    "client_secret": "very-secret-value",
}


def test_create_normalises_urls_and_implements_the_port() -> None:
    connector = create("shop", BASE)
    assert isinstance(connector, SourceConnector)
    assert connector.name == "shop" and connector.system == "commercetools"
    caps = connector.capabilities
    assert caps.entities == {"customer", "order", "category", "product"} and caps.max_page_size == 500
    assert caps.read_pages and caps.read_by_ids and caps.change_feed and caps.ingress
    assert connector.settings.api_url == "https://api.europe-west1.gcp.commercetools.com"
    assert connector.client.auth.token_url == "https://auth.europe-west1.gcp.commercetools.com/oauth/token"
    assert "very-secret-value" not in repr(connector) + repr(connector.settings)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"project_key": ""}, "connections.shop.project_key"),
        ({"project_key": "a/b"}, "connections.shop.project_key"),
        ({"api_url": "ftp://x"}, "connections.shop.api_url"),
        ({"auth_url": "https://auth?x=1"}, "connections.shop.auth_url"),
        ({"client_secret": "  "}, "connections.shop.client_secret"),
        ({"scopes": []}, "connections.shop.scopes"),
        ({"scopes": ["two words"]}, "connections.shop.scopes"),
        ({"page_size": 501}, "connections.shop.page_size"),
        ({"page_size": 0}, "connections.shop.page_size"),
        ({"type": "klaviyo"}, "connections.shop.type"),
        ({"unknown": 1}, "connections.shop.unknown"),
    ],
)
def test_invalid_settings_name_the_setting(change: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        create("shop", {**BASE, **change})
    assert info.value.path == path
    assert "very-secret-value" not in str(info.value)


def test_missing_secret_is_reported_without_values() -> None:
    settings = {k: v for k, v in BASE.items() if k != "client_secret"}
    with pytest.raises(ConfigError) as info:
        create("shop", settings)
    assert info.value.path == "connections.shop.client_secret"


async def test_unknown_kinds_are_refused() -> None:
    connector = create("shop", BASE)
    with pytest.raises(PermanentError, match="does not read kind 'cart'"):
        await connector.read_by_ids("cart", ["1"])
    with pytest.raises(PermanentError, match="does not read kind 'cart'"):
        async for _ in connector.read_pages("cart"):
            pass
    await connector.aclose()


async def test_read_by_ids_batches_under_the_url_limit_and_keeps_the_order() -> None:
    fake = FakeCommercetools()
    ids = [f"{i:04d}-{'x' * 40}" for i in range(700)]
    for i in ids[::2]:
        fake.customers[i] = {"id": i, "version": 3, "lastModifiedAt": "2024-01-01T00:00:00.000Z"}
    async with serve(fake) as base_url:
        settings = {**BASE, "project_key": PROJECT, "api_url": base_url, "auth_url": base_url}
        connector = create("shop", {**settings, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
        assert isinstance(connector, CommercetoolsConnector)
        wanted = list(reversed(ids)) + ids[:5]  # duplicates are read once
        records = await connector.read_by_ids("customer", wanted)
        await connector.aclose()
    assert [r.id for r in records] == [i for i in reversed(ids) if i in fake.customers]
    assert all(r.kind == "customer" and r.version == 3 and r.modified_at is not None for r in records)
    asked: list[str] = []
    for request in fake.requests:
        url = str(URL(str(request.url)))
        assert len(url) <= 8000, len(url)
        assert request.query["limit"] == "500" and request.query["withTotal"] == "false"
        where = request.query["where"]
        assert where.startswith("id in (")
        chunk = [part.strip().strip('"') for part in where[len("id in (") : -1].split(",")]
        assert len(chunk) <= 500
        asked += chunk
    assert sorted(asked) == sorted(ids)  # each id asked for exactly once
    assert len(fake.requests) >= 2


async def test_read_by_ids_of_nothing_sends_nothing() -> None:
    connector = create("shop", BASE)
    assert await connector.read_by_ids("customer", []) == []
    await connector.aclose()


async def test_get_customer_returns_none_when_missing() -> None:
    fake = FakeCommercetools()
    fake.customers["c1"] = {"id": "c1", "version": 1}
    async with serve(fake) as base_url:
        settings = {**BASE, "project_key": PROJECT, "api_url": base_url, "auth_url": base_url}
        connector = create("shop", {**settings, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
        assert await connector.get_customer("c1") == {"id": "c1", "version": 1}
        assert await connector.get_customer("nope") is None
        await connector.aclose()
