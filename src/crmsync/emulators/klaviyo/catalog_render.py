"""JSON:API serialisation of catalog items, categories and catalog bulk jobs.

Shapes follow the spec's ``CatalogItemResponseObjectResource`` (attributes ``external_id, title,
description, price, url, image_full_url, image_thumbnail_url, images, custom_metadata, published,
created, updated``; relationship ``variants``), ``CatalogCategoryResponseObjectResource``
(``external_id, name, updated``; relationship ``items``) and the ``Catalog*JobResponseObjectResource``
schemas (``status, created_at, total_count, completed_count, failed_count, completed_at, errors,
expires_at``; relationship ``items`` or ``categories``). Note that the item resource carries no
``categories`` relationship and the category resource no ``created`` attribute — exactly as the spec.
Compound ids appear verbatim in links (``$`` and ``:`` are legal path characters).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from crmsync.emulators.klaviyo.catalog_store import CatalogCategory, CatalogItem
from crmsync.emulators.klaviyo.ids import iso
from crmsync.emulators.klaviyo.jobs import CatalogJob
from crmsync.emulators.klaviyo.render import project

ITEM_FIELDS = (
    "created",
    "custom_metadata",
    "description",
    "external_id",
    "id",
    "image_full_url",
    "image_thumbnail_url",
    "images",
    "price",
    "published",
    "title",
    "updated",
    "url",
)
CATEGORY_FIELDS = ("external_id", "id", "name", "updated")
JOB_FIELDS = (
    "completed_at",
    "completed_count",
    "created_at",
    "errors",
    "expires_at",
    "failed_count",
    "id",
    "status",
    "total_count",
)


def path_id(resource_id: str) -> str:
    """A compound id as a URL path segment: ``$`` and ``:`` are legal there, anything else is escaped."""
    return quote(resource_id, safe="$:")


def _links(base: str, kind: str, rid: str, name: str) -> dict[str, str]:
    segment = path_id(rid)
    return {
        "self": f"{base}/api/{kind}/{segment}/relationships/{name}/",
        "related": f"{base}/api/{kind}/{segment}/{name}/",
    }


def _sparse(attributes: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if fields is None:
        return attributes
    return project(attributes, [name for name in fields if name != "id"])


def item_resource(
    item: CatalogItem, base: str, *, fields: list[str] | None = None, include_variants: bool = False
) -> dict[str, Any]:
    images = item.attributes.get("images")
    attrs: dict[str, Any] = {
        "external_id": item.external_id,
        "title": item.attributes.get("title"),
        "description": item.attributes.get("description"),
        "price": item.attributes.get("price"),
        "url": item.attributes.get("url"),
        "image_full_url": item.attributes.get("image_full_url"),
        "image_thumbnail_url": item.attributes.get("image_thumbnail_url"),
        "images": list(images) if images is not None else None,
        "custom_metadata": item.attributes.get("custom_metadata"),
        "published": item.attributes.get("published"),
        "created": iso(item.created),
        "updated": iso(item.updated),
    }
    variants: dict[str, Any] = {"links": _links(base, "catalog-items", item.id, "variants")}
    if include_variants:
        variants["data"] = []  # the emulator models no variants
    return {
        "type": "catalog-item",
        "id": item.id,
        "attributes": _sparse(attrs, fields),
        "relationships": {"variants": variants},
        "links": {"self": f"{base}/api/catalog-items/{path_id(item.id)}/"},
    }


def category_resource(
    category: CatalogCategory, base: str, *, fields: list[str] | None = None
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "external_id": category.external_id,
        "name": category.name,
        "updated": iso(category.updated),
    }
    return {
        "type": "catalog-category",
        "id": category.id,
        "attributes": _sparse(attrs, fields),
        "relationships": {"items": {"links": _links(base, "catalog-categories", category.id, "items")}},
        "links": {"self": f"{base}/api/catalog-categories/{path_id(category.id)}/"},
    }


def job_errors(job: CatalogJob) -> list[dict[str, Any]]:
    return [
        {
            "id": error.id,
            "code": error.code,
            "title": error.title,
            "detail": error.detail,
            "source": {"pointer": error.pointer},
        }
        for error in job.errors
    ]


def job_resource(
    job: CatalogJob, base: str, *, relationship: str, member_type: str, fields: list[str] | None = None
) -> dict[str, Any]:
    """A catalog bulk job; ``relationship`` is ``items`` or ``categories`` (the ids the job names)."""
    attrs: dict[str, Any] = {
        "status": job.status,
        "created_at": iso(job.created_at),
        "total_count": job.total_count,
        "completed_count": job.completed_count,
        "failed_count": job.failed_count,
        "completed_at": iso(job.completed_at),
        "errors": job_errors(job),
        "expires_at": iso(job.expires_at),
    }
    return {
        "type": job.kind,
        "id": job.id,
        "attributes": _sparse(attrs, fields),
        "relationships": {
            relationship: {
                "data": [{"type": member_type, "id": rid} for rid in job.resource_ids],
                "links": _links(base, f"{job.kind}s", job.id, relationship),
            }
        },
        "links": {"self": f"{base}/api/{job.kind}s/{job.id}/"},
    }
