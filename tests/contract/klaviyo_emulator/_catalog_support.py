"""Body builders and helpers for the catalog and bulk event contract tests."""

from __future__ import annotations

import asyncio
from typing import Any

from ._support import Client

PREFIX = "$custom:::$default:::"


def cid(external_id: str) -> str:
    """The compound id Klaviyo gives a catalog item/category with this external id."""
    return PREFIX + external_id


def item_attrs(external_id: str, **overrides: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "external_id": external_id,
        "title": f"Item {external_id}",
        "description": f"About {external_id}",
        "url": f"https://shop.example.com/p/{external_id}",
    }
    attrs.update(overrides)
    return attrs


def item_doc(external_id: str, categories: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "catalog-item", "attributes": item_attrs(external_id, **overrides)}
    if categories:
        data["relationships"] = {
            "categories": {"data": [{"type": "catalog-category", "id": c} for c in categories]}
        }
    return {"data": data}


def category_doc(external_id: str, name: str | None = None, items: tuple[str, ...] = ()) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "catalog-category",
        "attributes": {"external_id": external_id, "name": name or f"Category {external_id}"},
    }
    if items:
        data["relationships"] = {"items": {"data": [{"type": "catalog-item", "id": i} for i in items]}}
    return {"data": data}


def linkage(kind: str, *ids: str) -> dict[str, Any]:
    return {"data": [{"type": kind, "id": i} for i in ids]}


def bulk_doc(job_type: str, container: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"type": job_type, "attributes": {container: {"data": members}}}}


def event_entry(
    profile: dict[str, Any], *events: dict[str, Any], profile_id: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "profile", "attributes": profile}
    if profile_id is not None:
        data["id"] = profile_id
    return {
        "type": "event-bulk-create",
        "attributes": {"profile": {"data": data}, "events": {"data": list(events)}},
    }


def bulk_event(metric: str = "Placed Order", **attributes: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "properties": attributes.pop("properties", {}),
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
    }
    attrs.update(attributes)
    return {"type": "event", "attributes": attrs}


def events_doc(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {"events-bulk-create": {"data": list(entries)}},
        }
    }


async def wait_catalog_job(http: Client, path: str, job_id: str) -> tuple[dict[str, Any], set[str]]:
    """Poll ``path/job_id`` until complete; return the job resource and the statuses seen."""
    seen: set[str] = set()
    async with asyncio.timeout(5):
        while True:
            status, doc, _ = await http.get(f"{path}/{job_id}")
            assert status == 200, doc
            seen.add(doc["data"]["attributes"]["status"])
            if doc["data"]["attributes"]["status"] == "complete":
                return doc["data"], seen
            await asyncio.sleep(0.005)
