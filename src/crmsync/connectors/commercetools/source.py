"""commercetools as a :class:`crmsync.ports.SourceConnector` for customers, orders, categories and
products.

Full reads page by keyset (``sort=id asc`` + ``where=id > "<last>"``), never by ``offset``, which
the API caps at 10 000 and which skips or repeats records that change mid-read. Batched reads by
id keep the URL below ~8 KB, the common limit of proxies and load balancers.

Categories are read with their ancestors expanded (``expand=ancestors[*]``: the catalog name is the
path from the root). Products are read as published ``product-projections`` (``staged=false``; ids
are product ids), except for a product that is no longer published, which ``read_by_ids`` returns
from its staged projection with ``published: false`` — so only a deleted product is absent (see
:meth:`CommercetoolsConnector.read_by_ids`). Reading staged projections needs the ``view_products``
scope (``view_published_products`` alone is refused: 403, fatal).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from yarl import URL

from crmsync.connectors.commercetools.catalog import CURSOR_KEY, CatalogChanges, descendants
from crmsync.connectors.commercetools.client import CommercetoolsClient, Params
from crmsync.connectors.commercetools.feed import MessageFeed, quote_literal
from crmsync.connectors.commercetools.ingress import parse_ingress
from crmsync.connectors.commercetools.orders import OrderFacts
from crmsync.connectors.commercetools.settings import CommercetoolsSettings
from crmsync.connectors.commercetools.transport import Sleep
from crmsync.errors import ConcurrentModificationError, NotFoundError, PermanentError
from crmsync.ports import Capabilities, ChangeEvent, RequestObserver, SourceRecord

log = logging.getLogger(__name__)

MAX_URL_BYTES = 8000
MAX_LIMIT = 500
_COLLECTIONS: Mapping[str, str] = {  # kind -> collection path
    "customer": "customers",
    "order": "orders",
    "category": "categories",
    "product": "product-projections",
}
# Reads of orders expand what their events need: payments (refund transactions) and discount codes;
# categories their ancestors (the catalog name is the path from the root).
_EXPAND: Mapping[str, tuple[str, ...]] = {
    "order": ("paymentInfo.payments[*]", "discountCodes[*].discountCode"),
    "category": ("ancestors[*]",),
}
_PUBLISHED = (("staged", "false"),)
_STAGED = (("staged", "true"),)
_PARAMS: Mapping[str, tuple[tuple[str, str], ...]] = {"product": _PUBLISHED}  # further query parameters


def _query_cost(text: str) -> int:
    """Length of ``text`` once percent-encoded as a query value, as yarl will send it."""
    return len(URL.build(query={"w": text}).raw_query_string) - 2


class CommercetoolsConnector:
    """Reads customers, orders, categories and products from one commercetools project: pages, ids,
    the message feed (plus a ``lastModifiedAt`` scan for categories and products), pushes."""

    system = "commercetools"
    #: the other ids of a record, linked in the identity graph (id kind -> field of the resource)
    identity_fields = {
        "customer": {"key": "key", "customerNumber": "customerNumber"},
        "category": {"key": "key"},
        "product": {"key": "key"},
    }
    capabilities = Capabilities(
        entities=frozenset(_COLLECTIONS),
        read_pages=True,
        read_by_ids=True,
        change_feed=True,
        ingress=True,
        max_page_size=MAX_LIMIT,
    )

    def __init__(
        self,
        name: str,
        settings: CommercetoolsSettings,
        observer: RequestObserver | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.settings = settings
        self.client = CommercetoolsClient(settings, connection=name, observer=observer, sleep=sleep, rng=rng)
        self._orders = OrderFacts(self.client, self._id_chunks)
        self._feed = MessageFeed(
            self.client,
            overlap_seconds=settings.poll_overlap_seconds,
            page_size=settings.page_size,
            max_events=settings.poll_max_events,
            clock=clock,
        )
        self._catalog = CatalogChanges(self._feed)

    def __repr__(self) -> str:
        return f"CommercetoolsConnector(name={self.name!r}, project_key={self.settings.project_key!r})"

    # -- full read --------------------------------------------------------------------------
    async def read_pages(
        self, kind: str, *, after: str | None = None, page_size: int = MAX_LIMIT
    ) -> AsyncIterator[list[SourceRecord]]:
        """Yield pages in ``id`` order; ``after`` resumes after that id (the last one stored)."""
        collection = self._collection(kind)
        limit = max(1, min(page_size, self.settings.page_size, MAX_LIMIT))
        last = after
        while True:
            params: list[tuple[str, str]] = [("sort", "id asc")]
            if last is not None:
                params.append(("where", f"id > {quote_literal(last)}"))
            params += [("limit", str(limit)), ("withTotal", "false")]
            params += [("expand", e) for e in _EXPAND.get(kind, ())]
            params += _PARAMS.get(kind, ())
            records = await self._query(kind, collection, params)
            if records:
                yield records
                last = records[-1].id
            if len(records) < limit:
                return

    # -- batched read -----------------------------------------------------------------------
    async def read_by_ids(self, kind: str, ids: list[str]) -> list[SourceRecord]:
        """Read the given ids (missing ones are simply absent), in the order asked for.

        Products: ids missing from the published projections are read again as staged projections;
        those that exist are returned with ``published`` set to false (unpublished, not deleted), so
        only a deleted product is absent. A staged projection saying ``published: true`` means the
        product was published between the two reads: its published projection is read once more.
        """
        collection = self._collection(kind)
        wanted = list(dict.fromkeys(i for i in ids if i))
        extra = _PARAMS.get(kind, ())
        found = await self._read_ids(kind, collection, wanted, extra)
        missing = [i for i in wanted if i not in found]
        if kind == "product" and missing:
            found.update(await self._unpublished_products(collection, missing))
        return [found[i] for i in wanted if i in found]

    async def _read_ids(
        self, kind: str, collection: str, ids: list[str], extra: Params = ()
    ) -> dict[str, SourceRecord]:
        found: dict[str, SourceRecord] = {}
        for chunk in self._id_chunks(collection, ids):
            where = f"id in ({', '.join(quote_literal(i) for i in chunk)})"
            params = [("where", where), ("limit", str(MAX_LIMIT)), ("withTotal", "false")]
            params += [("expand", e) for e in _EXPAND.get(kind, ())]
            params += extra
            for record in await self._query(kind, collection, params):
                found[record.id] = record
        return found

    async def _unpublished_products(self, collection: str, ids: list[str]) -> dict[str, SourceRecord]:
        staged = await self._read_ids("product", collection, ids, _STAGED)
        republished = [i for i, r in staged.items() if r.data.get("published") is True]
        current = await self._read_ids("product", collection, republished, _PUBLISHED) if republished else {}
        for record in staged.values():
            record.data["published"] = False
        return {**staged, **current}

    def _id_chunks(self, collection: str, ids: list[str]) -> list[list[str]]:
        """Split ids so each request URL stays under :data:`MAX_URL_BYTES` and ≤ 500 ids."""
        fixed = len(
            str(
                self.client.url(
                    (collection,), [("where", "id in ()"), ("limit", "500"), ("withTotal", "false")]
                )
            )
        )
        chunks: list[list[str]] = []
        chunk: list[str] = []
        size = fixed
        for item in ids:
            cost = _query_cost(quote_literal(item) + ", ")
            if fixed + cost > MAX_URL_BYTES:
                raise PermanentError(
                    f"id {item[:40]!r}... is too long to query", connection=self.name, record_key=item[:100]
                )
            if chunk and (size + cost > MAX_URL_BYTES or len(chunk) >= MAX_LIMIT):
                chunks.append(chunk)
                chunk, size = [], fixed
            chunk.append(item)
            size += cost
        if chunk:
            chunks.append(chunk)
        return chunks

    async def _query(self, kind: str, collection: str, params: Params) -> list[SourceRecord]:
        response = await self.client.request(
            "GET", (collection,), params=params, operation=f"GET /{collection}"
        )
        results = response.body.get("results") if isinstance(response.body, dict) else None
        if not isinstance(results, list):
            raise PermanentError(
                f"commercetools GET /{collection} answered without a 'results' list",
                connection=self.name,
                correlation_id=response.correlation_id,
            )
        records = [self._record(kind, item, response.correlation_id) for item in results]
        if kind == "order" and records:
            await self._orders.attach_state_times(records)
        return records

    def _record(self, kind: str, item: Any, correlation_id: str | None) -> SourceRecord:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise PermanentError(
                f"commercetools returned a {kind} without an id", connection=self.name, entity=kind
            )
        version = item.get("version")
        modified_at: datetime | None = None
        if isinstance(item.get("lastModifiedAt"), str):
            try:
                modified_at = datetime.fromisoformat(item["lastModifiedAt"])
            except ValueError:
                log.warning("%s %s has an unparsable lastModifiedAt", kind, item["id"])
        return SourceRecord(
            kind=kind,
            id=item["id"],
            version=version if isinstance(version, int) and not isinstance(version, bool) else None,
            data=item,
            modified_at=modified_at,
            correlation_id=correlation_id,
        )

    # -- single records -----------------------------------------------------------------------
    async def get_customer(
        self, customer_id: str, *, correlation_id: str | None = None
    ) -> dict[str, Any] | None:
        """The customer as the API returns it, or None when it does not exist (any more)."""
        try:
            body = await self.client.get(
                ("customers", customer_id), operation="GET /customers/{id}", correlation_id=correlation_id
            )
        except NotFoundError:
            return None
        return body if isinstance(body, dict) else None

    async def update_customer(
        self,
        customer_id: str,
        version: int,
        actions: list[dict[str, Any]],
        *,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """Apply update actions; a stale ``version`` raises ConcurrentModificationError(current_version)."""
        body = await self.client.post(
            ("customers", customer_id),
            {"version": version, "actions": actions},
            operation="POST /customers/{id}",
            correlation_id=correlation_id,
        )
        if not isinstance(body, dict):
            raise PermanentError(
                "commercetools POST /customers/{id} answered without a customer",
                connection=self.name,
                record_key=customer_id,
            )
        return body

    async def descendants(self, category_id: str) -> list[str]:
        """Ids of all categories below ``category_id`` (children, grandchildren …), in id order.

        Their catalog names embed this category's name ("A > B > C"), yet a rename of "B" changes
        nothing on them (no Message, no change notification, no new version), and the platform does
        not document how a move shows on them: whoever processes a category event whose name or
        parent may have changed re-syncs these too. [] for a leaf or a deleted category (the
        subtree goes with it, each category with its own ResourceDeleted).
        """
        return await descendants(self.client, category_id)

    async def set_custom_fields(self, record_id: str, fields: Mapping[str, Any]) -> bool:
        """Write custom fields of one customer back (consent flags, CRM-owned values; ``None``
        removes a field); False when they already hold these values (nothing written — which is
        also how a write of ours coming back is recognised). A 409 (the customer changed meanwhile)
        is retried on the current version."""
        for _ in range(3):
            customer = await self.get_customer(record_id)
            if customer is None:
                return False
            if not customer.get("custom"):
                actions = self._custom_type_actions(record_id, fields)
                if not actions:
                    return False
            else:
                current = (customer.get("custom") or {}).get("fields") or {}
                actions = [
                    {
                        "action": "setCustomField",
                        "name": name,
                        **({"value": value} if value is not None else {}),
                    }
                    for name, value in fields.items()
                    if current.get(name) != value
                ]
                if not actions:
                    return False
            try:
                await self.update_customer(record_id, customer["version"], actions)
            except ConcurrentModificationError:
                continue
            return True
        raise ConcurrentModificationError(
            f"customer {record_id} kept changing while its fields were written back", connection=self.name
        )

    def _custom_type_actions(self, record_id: str, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
        """A customer without custom fields gets the configured type with the fields set."""
        values = {k: v for k, v in fields.items() if v is not None}
        if not values:
            return []
        if not self.settings.customer_type_key:
            raise PermanentError(
                f"customer {record_id} has no custom type, so fields {', '.join(sorted(values))} cannot be "
                f"written back; set connections.{self.name}.customer_type_key to the type to give it",
                connection=self.name,
                entity="customer",
                record_key=record_id,
            )
        return [
            {
                "action": "setCustomType",
                "type": {"typeId": "type", "key": self.settings.customer_type_key},
                "fields": values,
            }
        ]

    # -- change feed and pushes -----------------------------------------------------------------
    async def poll_changes(
        self, kinds: list[str], cursor: dict[str, Any] | None
    ) -> tuple[list[ChangeEvent], dict[str, Any]]:
        """New messages since ``cursor`` (see :mod:`.feed`) and, for categories and products, the
        records modified since (see :mod:`.catalog`); store the cursor after the events."""
        events, new_cursor = await self._feed.poll(kinds, cursor)
        scanned, scan_cursor = await self._catalog.scan(kinds, cursor)
        if scan_cursor:
            new_cursor[CURSOR_KEY] = scan_cursor
        return await self.resolve_events(events + scanned), new_cursor

    async def resolve_events(self, events: list[ChangeEvent]) -> list[ChangeEvent]:
        """Payment transaction events become events of the orders that reference the payments."""
        return await self._orders.resolve_payment_events(events)

    def parse_ingress(self, body: bytes, headers: Mapping[str, str]) -> list[ChangeEvent]:
        """Parse one pushed Subscription delivery (see :mod:`.ingress`)."""
        return parse_ingress(body, headers)

    def cursor_at(self, at: datetime) -> dict[str, Any]:
        """A feed cursor starting exactly at ``at`` (ISO 8601 with milliseconds, UTC)."""
        stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"since": stamp}

    async def aclose(self) -> None:
        await self.client.aclose()

    def _collection(self, kind: str) -> str:
        collection = _COLLECTIONS.get(kind)
        if collection is None:
            raise PermanentError(
                f"the commercetools connector does not read kind {kind!r}", connection=self.name, entity=kind
            )
        return collection
