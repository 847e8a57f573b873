"""Catalog items and categories, one at a time: create → (409) update, and delete.

Payload contract with the engine::

    catalog_category: {"external_id": str, "name": str}
    catalog_item:     {"external_id": str, "title": str, "description": str, "url": str,
                       "price"?: float, "image_full_url"?: str, "image_thumbnail_url"?: str,
                       "images"?: [str], "published"?: bool, "custom_metadata"?: {...},
                       "categories": [category external ids]}

Ids are compound and known before creation (spec, ``CatalogItemUpdateQueryResourceObject.id``):
``{integration}:::{catalog}:::{external_id}`` with the only supported integration ``$custom`` and
catalog ``$default``. They are sent in paths with ``$`` and ``:`` left as they are (both are legal
path characters, as in Klaviyo's own ``links.self``) and everything else percent-encoded.

Upsert: ``POST /api/catalog-items`` (``CatalogItemCreateQuery``, with the ``categories``
relationship) → 201 ``created=True``; a 409 (the external id exists) → ``PATCH
/api/catalog-items/{id}`` (``CatalogItemUpdateQuery``) → ``created=False``. The update carries the
``categories`` relationship too — the spec allows it on update — with *all* the item's categories,
which replaces the memberships (an empty list removes every one). Clearing: every optional item
attribute absent from the payload is sent as ``null`` on update (the spec marks each nullable), except
``published``, which is sent as ``true``, Klaviyo's default for an item that does not say. Categories
are created and renamed without an ``items`` relationship: memberships are owned by the items' side.

A 404 while creating or updating an item with categories means a category it names does not exist
(yet) — typically it is being delivered in the same run — so it comes back as a
:class:`~crmsync.errors.TransientError` to be retried, not dead-lettered. Delete: ``DELETE`` → 204;
a 404 counts as success (already gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from crmsync.connectors.klaviyo.batching import error_pointer, failed, invalid, resource_field, retag
from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.errors import CrmsyncError, NotFoundError, RecordValidationError, TransientError
from crmsync.ports import JSON, DeliveryResult, Projection

INTEGRATION_TYPE = "$custom"
CATALOG_TYPE = "$default"
ITEM_KIND = "catalog_item"
CATEGORY_KIND = "catalog_category"
#: Item attributes besides the required ones; absent from the payload → ``null`` on update.
OPTIONAL_ITEM_ATTRIBUTES = (
    "price",
    "image_full_url",
    "image_thumbnail_url",
    "images",
    "custom_metadata",
    "published",
)
REQUIRED_ITEM_ATTRIBUTES = ("title", "description", "url")


@dataclass(frozen=True)
class CatalogKind:
    """Where and how one projection kind lives in the Catalogs API (paths and operation ids)."""

    kind: str  # projection kind
    type: str  # JSON:API type
    path: str
    noun: str  # single operations: create_<noun>, update_<noun>, delete_<noun>
    plural: str  # bulk jobs: bulk_<action>_<plural>
    job_get_stem: str  # job reads: get_bulk_<action>_<stem>_job (the spec says "categories" only)
    container: str  # bulk job attribute holding the members: items / categories

    def op(self, action: str) -> str:
        return f"{action}_{self.noun}"

    def job_type(self, action: str) -> str:
        return f"{self.type}-bulk-{action}-job"

    def job_path(self, action: str) -> str:
        return f"/api/{self.job_type(action)}s"

    def job_op(self, action: str) -> str:
        return f"bulk_{action}_{self.plural}"

    def job_get_op(self, action: str) -> str:
        return f"get_bulk_{action}_{self.job_get_stem}_job"


ITEM = CatalogKind(
    ITEM_KIND, "catalog-item", "/api/catalog-items", "catalog_item", "catalog_items", "catalog_items", "items"
)
CATEGORY = CatalogKind(
    CATEGORY_KIND,
    "catalog-category",
    "/api/catalog-categories",
    "catalog_category",
    "catalog_categories",
    "categories",
    "categories",
)
KINDS = {ITEM_KIND: ITEM, CATEGORY_KIND: CATEGORY}


def catalog_id(external_id: str) -> str:
    return f"{INTEGRATION_TYPE}:::{CATALOG_TYPE}:::{external_id}"


def resource_path(spec: CatalogKind, resource_id: str) -> str:
    return f"{spec.path}/{quote(resource_id, safe='$:')}"


def external_id(item: Projection) -> str:
    value = item.payload.get("external_id")
    return value if isinstance(value, str) and value else item.record_key


def category_ids(item: Projection) -> list[str]:
    """Compound ids of the item's categories, duplicates dropped, order kept."""
    raw = item.payload.get("categories") or []
    return list(dict.fromkeys(catalog_id(c) for c in raw if isinstance(c, str) and c))


def _categories_relationship(item: Projection) -> JSON:
    return {"categories": {"data": [{"type": CATEGORY.type, "id": c} for c in category_ids(item)]}}


def create_resource(item: Projection) -> JSON:
    """``CatalogItemCreateQueryResourceObject`` / ``CatalogCategoryCreateQueryResourceObject``."""
    ext = external_id(item)
    if item.kind == CATEGORY_KIND:
        attributes: dict[str, Any] = {
            "external_id": ext,
            "name": item.payload.get("name"),
            "integration_type": INTEGRATION_TYPE,
            "catalog_type": CATALOG_TYPE,
        }
        return {"type": CATEGORY.type, "attributes": attributes}
    attributes = {"external_id": ext, "integration_type": INTEGRATION_TYPE, "catalog_type": CATALOG_TYPE}
    for name in (*REQUIRED_ITEM_ATTRIBUTES, *OPTIONAL_ITEM_ATTRIBUTES):
        if item.payload.get(name) is not None:
            attributes[name] = item.payload[name]
    resource: dict[str, Any] = {"type": ITEM.type, "attributes": attributes}
    if category_ids(item):
        resource["relationships"] = _categories_relationship(item)
    return resource


def update_resource(item: Projection) -> JSON:
    """``Catalog{Item,Category}UpdateQueryResourceObject``: every attribute, absent ones cleared."""
    ext = external_id(item)
    if item.kind == CATEGORY_KIND:
        return {
            "type": CATEGORY.type,
            "id": catalog_id(ext),
            "attributes": {"name": item.payload.get("name")},
        }
    attributes: dict[str, Any] = {name: item.payload.get(name) for name in REQUIRED_ITEM_ATTRIBUTES}
    for name in OPTIONAL_ITEM_ATTRIBUTES:
        attributes[name] = item.payload.get(name)
    if attributes["published"] is None:
        attributes["published"] = True
    return {
        "type": ITEM.type,
        "id": catalog_id(ext),
        "attributes": attributes,
        "relationships": _categories_relationship(item),
    }


def delete_resource(item: Projection) -> JSON:
    """``Catalog{Item,Category}DeleteQueryResourceObject`` (bulk delete members)."""
    spec = KINDS[item.kind]
    return {"type": spec.type, "id": catalog_id(external_id(item))}


def check_catalog(item: Projection, connection: str) -> DeliveryResult | None:
    """Refuse locally what Klaviyo requires and the payload lacks (spec: required create attributes)."""
    required = ("name",) if item.kind == CATEGORY_KIND else REQUIRED_ITEM_ATTRIBUTES
    if "external_id" in item.payload and not (
        isinstance(item.payload["external_id"], str) and item.payload["external_id"]
    ):
        return invalid(
            item,
            "klaviyo catalog: 'external_id' must be a non-empty string",
            field="external_id",
            connection=connection,
        )
    for name in required:
        if not isinstance(item.payload.get(name), str):
            return invalid(
                item,
                f"klaviyo catalog: '{name}' is required and must be a string",
                field=name,
                connection=connection,
            )
    return None


def field_error(
    item: Projection, exc: RecordValidationError, operation: str, connection: str
) -> DeliveryResult:
    fld = resource_field(error_pointer(exc)) or exc.field
    label = f" field {fld!r}" if fld else ""
    result = invalid(
        item,
        f"klaviyo {operation}: invalid{label}: {exc.message}",
        field=fld,
        connection=connection,
        detail=exc.detail,
    )
    if result.error is not None:
        result.error.status = exc.status
    return result


def missing_category(item: Projection, error: CrmsyncError, connection: str) -> TransientError:
    return TransientError(
        f"klaviyo catalog item {external_id(item)!r}: a category it names does not exist (yet); "
        f"retry once the categories are delivered ({error.message})",
        connection=connection,
        entity=item.kind,
        record_key=item.record_key,
        correlation_id=item.correlation_id,
        status=error.status,
    )


class CatalogWriter:
    """Single-record upsert and delete of catalog items and categories; never raises a CrmsyncError."""

    def __init__(self, client: KlaviyoClient, *, connection: str) -> None:
        self._client = client
        self._connection = connection

    async def upsert(self, item: Projection) -> DeliveryResult:
        refused = check_catalog(item, self._connection)
        if refused is not None:
            return refused
        spec = KINDS[item.kind]
        stats = CallStats()
        created = True
        operation = spec.op("create")
        try:
            try:
                response = await self._send("POST", spec.path, item, create_resource(item), operation, stats)
            except CrmsyncError as exc:
                if exc.status != 409:
                    raise
                created, operation = False, spec.op("update")
                resource = update_resource(item)
                path = resource_path(spec, str(resource["id"]))
                response = await self._send("PATCH", path, item, resource, operation, stats)
        except RecordValidationError as exc:
            result = field_error(item, exc, operation, self._connection)
            return DeliveryResult(item.record_key, ok=False, error=result.error, calls=stats.attempts)
        except NotFoundError as exc:
            error: CrmsyncError = retag(exc, item.kind)
            if item.kind == ITEM_KIND and category_ids(item):
                error = missing_category(item, exc, self._connection)
            return failed(item, error, stats.attempts)
        except CrmsyncError as exc:
            return failed(item, retag(exc, item.kind), stats.attempts)
        data = (response.body or {}).get("data") or {}
        target = data.get("id") if isinstance(data, dict) else None
        return DeliveryResult(
            item.record_key,
            ok=True,
            target_id=str(target) if target else catalog_id(external_id(item)),
            created=created,
            calls=stats.attempts,
        )

    async def delete(self, item: Projection) -> DeliveryResult:
        spec = KINDS[item.kind]
        resource_id = catalog_id(external_id(item))
        stats = CallStats()
        try:
            await self._client.request(
                "DELETE",
                resource_path(spec, resource_id),
                operation=spec.op("delete"),
                record_key=item.record_key,
                kind=item.kind,
                correlation_id=item.correlation_id,
                stats=stats,
            )
        except NotFoundError:
            pass  # already gone: the desired state holds
        except CrmsyncError as exc:
            return failed(item, retag(exc, item.kind), stats.attempts)
        return DeliveryResult(item.record_key, ok=True, target_id=resource_id, calls=stats.attempts)

    async def _send(
        self, method: str, path: str, item: Projection, resource: JSON, operation: str, stats: CallStats
    ) -> Any:
        return await self._client.request(
            method,
            path,
            body={"data": resource},
            operation=operation,
            record_key=item.record_key,
            kind=item.kind,
            correlation_id=item.correlation_id,
            stats=stats,
        )
