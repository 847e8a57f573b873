"""Categories and products: the changes the Messages API does not report, and category subtrees.

*What the Messages API misses.* Categories have two Message types only (``CategoryCreated``,
``CategorySlugChanged``); ``changeName``, ``changeParent``, ``setKey`` … write none (apis.md §1.6).
Products write none for ``changeName``, ``setDescription``, ``setKey``, ``setMetaTitle`` … either,
which matters when they are applied to the current data directly (``staged: false``). Those changes
reach a Subscription as ``ResourceUpdated`` change notifications, which the polled feed never sees.
So, for kinds ``category`` and ``product``, :meth:`CatalogChanges.scan` also reads the collection
(``categories`` / published ``product-projections``) by ``lastModifiedAt`` in the same overlapping,
keyset-paged window as the messages (:class:`.feed.MessageFeed.window`). Every record modified in
the window becomes a ``ResourceModified`` event whose id is ``"<id>:<version>"`` — the dedup key of
the change notification of that very version, so a pushed ``ResourceUpdated`` and the scan's event
are one inbox entry. The events carry no record (the engine re-reads, like for every catalog event).
The scan cannot see deletions: a deleted category is seen only as a pushed ``ResourceDeleted``.

The scan keeps its window in the feed cursor under ``"modified"`` (one entry per kind, the same
shape as the message cursor); a cursor without it (first poll, or one written before this scan
existed) starts where the message cursor starts.

*Subtrees.* A category's catalog name holds its ancestors' names ("Women > Pants > Jeans"), so a
rename or a move of one category changes the names of all categories below it, which themselves
report nothing: :func:`descendants` lists them (``where=ancestors(id = "<id>")``) for a re-sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmsync.connectors.commercetools.client import CommercetoolsClient
from crmsync.connectors.commercetools.events import req_int, req_str, req_timestamp
from crmsync.connectors.commercetools.feed import MessageFeed, WindowSource, quote_literal
from crmsync.errors import ConfigError, PermanentError
from crmsync.ports import ChangeEvent

CURSOR_KEY = "modified"
SCAN_EVENT_TYPE = "ResourceModified"
_PAGE = 500


def resource_version_key(item: Mapping[str, Any]) -> str | None:
    """``"<id>:<version>"`` of a resource, the change-notification dedup key; None if unusable."""
    ident, version = item.get("id"), item.get("version")
    if not isinstance(ident, str) or isinstance(version, bool) or not isinstance(version, int):
        return None
    return f"{ident}:{version}"


def resource_to_event(kind: str, type_id: str, item: Mapping[str, Any]) -> ChangeEvent:
    """A read resource as a change event of its current version (raises IngressError if unusable)."""
    resource_id = req_str(item, "id")
    version = req_int(item, "version")
    event_id = f"{resource_id}:{version}"
    return ChangeEvent(
        event_id=event_id,
        kind=kind,
        resource_id=resource_id,
        event_type=SCAN_EVENT_TYPE,
        occurred_at=req_timestamp(item, "lastModifiedAt"),
        sequence=version,
        resource_version=version,
        record=None,
        correlation_id=event_id,
        raw={
            "resource": {"typeId": type_id, "id": resource_id},
            "version": version,
            "lastModifiedAt": item.get("lastModifiedAt"),
        },
    )


SCANS: Mapping[str, WindowSource] = {
    "category": WindowSource(
        "categories",
        "lastModifiedAt",
        lambda item: resource_to_event("category", "category", item),
        key=resource_version_key,
    ),
    "product": WindowSource(
        "product-projections",
        "lastModifiedAt",
        lambda item: resource_to_event("product", "product", item),
        key=resource_version_key,
        params=(("staged", "false"),),
    ),
}


class CatalogChanges:
    """The ``lastModifiedAt`` scan of categories and published products (see the module docstring)."""

    def __init__(self, feed: MessageFeed) -> None:
        self._feed = feed

    async def scan(
        self, kinds: list[str], cursor: Mapping[str, Any] | None
    ) -> tuple[list[ChangeEvent], dict[str, Any]]:
        """Events of the scanned ``kinds`` (others are ignored) and the ``"modified"`` cursor part."""
        saved = cursor.get(CURSOR_KEY) if cursor else None
        if saved is not None and not isinstance(saved, dict):
            raise ConfigError(f"change-feed cursor field '{CURSOR_KEY}' must be an object", path=CURSOR_KEY)
        events: list[ChangeEvent] = []
        state: dict[str, Any] = {}
        for kind in dict.fromkeys(k for k in kinds if k in SCANS):
            own = (saved or {}).get(kind)
            if own is not None and not isinstance(own, dict):
                path = f"{CURSOR_KEY}.{kind}"
                raise ConfigError(f"change-feed cursor field '{path}' must be an object", path=path)
            found, state[kind] = await self._feed.window(SCANS[kind], None, own or _start(cursor))
            events += found
        return events, state


def _start(cursor: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Where a scan without its own window starts: where the message window starts."""
    if not cursor:
        return None
    if "last_created_at" in cursor:
        start = {"last_created_at": cursor["last_created_at"], "recent_ids": []}
        if cursor.get("not_before") is not None:
            start["not_before"] = cursor["not_before"]
        return start
    return {"since": cursor["since"]} if "since" in cursor else None


async def descendants(client: CommercetoolsClient, category_id: str) -> list[str]:
    """Ids of every category below ``category_id`` (any depth), in id order; [] for a leaf or an
    unknown id. Pages by id (``sort=id asc``, ``id > <last>``), 500 at a time."""
    found: list[str] = []
    last: str | None = None
    while True:
        where = f"ancestors(id = {quote_literal(category_id)})"
        if last is not None:
            where += f" and id > {quote_literal(last)}"
        params = [("where", where), ("sort", "id asc"), ("limit", str(_PAGE)), ("withTotal", "false")]
        body = await client.get(("categories",), params, operation="GET /categories")
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise PermanentError(
                "commercetools GET /categories answered without a 'results' list",
                connection=client.transport.connection,
            )
        ids = [r["id"] for r in results if isinstance(r, dict) and isinstance(r.get("id"), str)]
        found += [i for i in ids if i != category_id]
        if len(results) < _PAGE or not ids:
            return found
        last = ids[-1]
