"""Categories and products → the Klaviyo catalog through the real service, connectors and emulators:
names with their ancestors, items with their categories, backfill and replay, and live renames,
unpublishing and deletions (a category deletion arrives only as a pushed ResourceDeleted)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.engine import poll_once, process_inbox
from crmsync.mapping.catalog import category_payload
from crmsync.service import Service

CID = "$custom:::$default:::"


@pytest.fixture()
async def stack(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    pushed: list[bytes] = []
    holder: dict[str, Service] = {}

    async def push(request: web.Request) -> web.Response:  # the subscription's push endpoint
        body = await request.read()
        pushed.append(body)
        await holder["svc"].ingest("shop", body, dict(request.headers))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/push", push)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    ct = CommercetoolsEmulator("p", subscription_url=f"http://127.0.0.1:{port}/push")
    kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01)
    ct_url, kl_url = await ct.start(), await kl.start()
    ct.seed_catalog(categories=12, products=30, seed=4)
    cfg = {
        "store": f"sqlite:///{tmp_path / 's.db'}",
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "p",
                "api_url": ct_url,
                "auth_url": ct_url,
                "client_id": "c",
                "client_secret": "s",
                "poll_overlap_seconds": 1,
            },
            "marketing": {"type": "klaviyo", "api_key": "pk_test", "base_url": kl_url},
        },
        "flows": [
            {
                "name": "f",
                "source": "shop",
                "target": "marketing",
                "entities": ["category", "product"],
                "bulk_threshold": 10,
                "catalog": {"url_template": "https://shop.example.com/{locale}/p/{slug}"},
            }
        ],
    }
    svc = Service(parse_config(cfg))
    holder["svc"] = svc
    try:
        yield {"ct": ct, "kl": kl, "svc": svc, "pushed": pushed}
    finally:
        await svc.aclose()
        await ct.stop()
        await kl.stop()
        await runner.cleanup()


def expected_names(ct: CommercetoolsEmulator) -> dict[str, str]:
    by_id = ct.categories
    out = {}
    for cid, category in by_id.items():
        expanded = dict(category)
        expanded["ancestors"] = [{**a, "obj": by_id[a["id"]]} for a in category.get("ancestors") or []]
        out[CID + cid] = category_payload(expanded)["name"]
    return out


def published_products(ct: CommercetoolsEmulator) -> dict[str, dict[str, Any]]:
    return {CID + pid: p for pid, p in ct.products.items() if p["masterData"]["published"]}


async def drain(svc: Service) -> None:
    for kind in ("category", "product"):
        flow = svc.flow(kind)
        await poll_once(flow)
        while await process_inbox(flow):
            pass


async def test_backfill_then_live_renames_unpublishing_and_deletions(stack: dict[str, Any]) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    complete, stats = await svc.sync("products")  # categories were never synced: needed ones go first
    assert complete and stats.failed == 0, stats.failures
    complete, stats = await svc.sync("categories")
    assert complete and stats.failed == 0, stats.failures

    names = expected_names(ct)
    assert {cid: c["name"] for cid, c in kl.catalog_categories.items()} == names
    assert any(" > " in n for n in names.values())
    items = kl.catalog_items
    products = published_products(ct)
    assert set(items) == set(products)
    for cid, product in products.items():
        current = product["masterData"]["current"]
        item = items[cid]
        assert item["title"] == current["name"]["en"]
        assert item["url"] == f"https://shop.example.com/en/p/{current['slug']['en']}"
        assert item["category_ids"] == sorted(CID + c["id"] for c in current.get("categories") or [])

    writes = kl.write_count()
    await svc.sync("categories", resume=False)
    await svc.sync("products", resume=False)
    assert kl.write_count() == writes  # nothing changed: nothing sent

    await drain(svc)  # settle the feed (what the seed produced) before the live changes
    # rename a category with descendants: its own name and every descendant's change
    parent = next(c for c in ct.categories.values() if any(
        (a.get("id") == c["id"]) for other in ct.categories.values() for a in other.get("ancestors") or []
    ))  # fmt: skip
    ct.update_category(parent["id"], parent["version"], [{"action": "changeName", "name": {"en": "Renamed"}}])
    # unpublish one product, delete another
    pid_off, pid_gone = sorted(p[len(CID) :] for p in products)[:2]
    off = ct.products[pid_off]
    ct.update_product(pid_off, off["version"], [{"action": "unpublish"}])
    gone = ct.products[pid_gone]
    ct.delete_product(pid_gone, gone["version"])
    await drain(svc)

    assert {cid: c["name"] for cid, c in kl.catalog_categories.items()} == expected_names(ct)
    assert any(n.startswith("Renamed") or " > Renamed" in n for n in expected_names(ct).values())
    assert kl.catalog_items[CID + pid_off]["published"] is False
    assert CID + pid_gone not in kl.catalog_items

    # a leaf category deleted: only the pushed ResourceDeleted says so
    leaf = next(
        c
        for c in ct.categories.values()
        if not any(a.get("id") == c["id"] for o in ct.categories.values() for a in o.get("ancestors") or [])
    )
    ct.delete_category(leaf["id"], leaf["version"])
    for _ in range(100):
        if any(b"ResourceDeleted" in body for body in stack["pushed"]):
            break
        import asyncio

        await asyncio.sleep(0.05)
    await drain(svc)
    assert CID + leaf["id"] not in kl.catalog_categories
