"""What order events need beyond the order itself: state-change times and payment → order routing.

*State-change times.* An order says which state it is in, not since when. The Messages API does:
``OrderStateChanged``, ``OrderShipmentStateChanged`` and ``OrderPaymentStateChanged`` carry the new
state and their ``createdAt``. For every page of orders read (in bulk and in live sync alike) one
messages query per URL-sized chunk of ids fetches them, and the earliest time each state was
entered is attached to the order as ``_crmsync.state_times`` (see
:mod:`crmsync.mapping.orders`). Messages expire (the project's retention): then nothing is
attached and the mapping falls back to the order's own timestamps.

*Payment transactions.* Refunds are transactions on Payment resources, which do not name their
order; the order references its payments (``paymentInfo.payments``). A payment message becomes an
order event with resource id ``payment:<id>`` (see :mod:`.events`); :meth:`resolve_payment_events`
looks the orders up (``paymentInfo(payments(id in (...)))``) and rewrites the events to them. A
payment not (yet) attached to an order is acknowledged and dropped: attaching it later emits
``OrderPaymentAdded`` on the order, which re-reads it with its transactions.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from crmsync.connectors.commercetools.client import CommercetoolsClient
from crmsync.connectors.commercetools.events import PAYMENT_PREFIX
from crmsync.connectors.commercetools.feed import quote_literal
from crmsync.ports import ChangeEvent, SourceRecord

log = logging.getLogger(__name__)

STATE_MESSAGES = {
    "OrderStateChanged": "orderState",
    "OrderShipmentStateChanged": "shipmentState",
    "OrderPaymentStateChanged": "paymentState",
}
FACTS_KEY = "_crmsync"
_PAGE = 500

Chunker = Callable[[str, list[str]], list[list[str]]]


class OrderFacts:
    def __init__(self, client: CommercetoolsClient, chunker: Chunker) -> None:
        self._client = client
        self._chunks = chunker

    async def attach_state_times(self, records: list[SourceRecord]) -> None:
        """Add ``_crmsync.state_times`` (field → state → earliest ISO time) to each order."""
        times: dict[str, dict[str, dict[str, str]]] = {}
        types = ", ".join(quote_literal(t) for t in STATE_MESSAGES)
        for chunk in self._chunks("messages", [r.id for r in records]):
            ids = ", ".join(quote_literal(i) for i in chunk)
            where = f'resource(typeId = "order" and id in ({ids})) and type in ({types})'
            for message in await self._all(where):
                field = STATE_MESSAGES.get(str(message.get("type")))
                state, created = message.get(field) if field else None, message.get("createdAt")
                order_id = (message.get("resource") or {}).get("id")
                if not (field and isinstance(state, str) and isinstance(created, str) and order_id):
                    continue
                seen = times.setdefault(order_id, {}).setdefault(field, {})
                if state not in seen or created < seen[state]:
                    seen[state] = created
        for record in records:
            if record.id in times:
                record.data[FACTS_KEY] = {"state_times": times[record.id]}

    async def _all(self, where: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            params = [
                ("where", where),
                ("sort", "createdAt asc"),
                ("sort", "id asc"),
                ("limit", str(_PAGE)),
                ("offset", str(offset)),
                ("withTotal", "false"),
            ]
            body = await self._client.get(("messages",), params, operation="GET /messages")
            results = body.get("results") if isinstance(body, dict) else None
            page = [r for r in results or [] if isinstance(r, dict)]
            out += page
            if len(page) < _PAGE or offset + _PAGE > 10_000:  # the API caps offset at 10,000
                return out
            offset += _PAGE

    async def resolve_payment_events(self, events: list[ChangeEvent]) -> list[ChangeEvent]:
        payment_ids = sorted(
            {e.resource_id[len(PAYMENT_PREFIX) :] for e in events if e.resource_id.startswith(PAYMENT_PREFIX)}
        )
        if not payment_ids:
            return events
        owner: dict[str, str] = {}
        for chunk in self._chunks("orders", payment_ids):
            ids = ", ".join(quote_literal(i) for i in chunk)
            params = [
                ("where", f"paymentInfo(payments(id in ({ids})))"),
                ("limit", str(_PAGE)),
                ("withTotal", "false"),
            ]
            body = await self._client.get(("orders",), params, operation="GET /orders")
            for order in (body.get("results") if isinstance(body, dict) else None) or []:
                for ref in (order.get("paymentInfo") or {}).get("payments") or []:
                    if isinstance(ref, dict) and ref.get("id") in chunk:
                        owner[ref["id"]] = order["id"]
        resolved: list[ChangeEvent] = []
        for event in events:
            if not event.resource_id.startswith(PAYMENT_PREFIX):
                resolved.append(event)
                continue
            order_id = owner.get(event.resource_id[len(PAYMENT_PREFIX) :])
            if order_id is None:
                log.info("payment event %s: the payment belongs to no order yet; ignored", event.event_id)
                continue
            resolved.append(dataclasses.replace(event, resource_id=order_id))
        return resolved
