"""Records that depend on others at the target: a customer's profile before its orders' events, a
product's categories before the product."""

from __future__ import annotations

from collections.abc import Callable

from crmsync.engine.delivery import deliver_records
from crmsync.engine.flow import Flow, Prerequisite
from crmsync.errors import CrmsyncError, TransientError
from crmsync.ports import SourceRecord


def customers_first(customers: Flow, *, field: str = "customerId") -> Prerequisite:
    """A prerequisite for order-like records: each record's customer (``data[field]``) is delivered
    by the customer flow first, unless it already was. Records whose customer failed transiently
    must wait (they are returned); a customer that failed for good (dead-lettered, e.g. an invalid
    address) or no longer exists does not hold its orders back."""

    def keys(record: SourceRecord) -> list[str]:
        value = record.data.get(field)
        return [value] if isinstance(value, str) and value else []

    return requires(customers, keys)


def categories_first(categories: Flow) -> Prerequisite:
    """Products name their categories: those reach the target before the product."""

    def keys(record: SourceRecord) -> list[str]:
        refs = record.data.get("categories") or []
        return [r["id"] for r in refs if isinstance(r, dict) and isinstance(r.get("id"), str)]

    return requires(categories, keys)


def requires(dependency: Flow, keys: Callable[[SourceRecord], list[str]]) -> Prerequisite:
    """Records need the ``dependency`` flow's records ``keys(record)`` delivered before them."""
    customers = dependency

    async def ensure(records: list[SourceRecord]) -> dict[str, CrmsyncError]:
        by_customer: dict[str, list[str]] = {}
        for record in records:
            for key in keys(record):
                by_customer.setdefault(key, []).append(record.id)
        if not by_customer:
            return {}
        store = customers.store
        ids = store.ensure_records(customers.kind, customers.source.system, "id", list(by_customer))
        delivered = store.get_delivered(customers.target_key, list(ids.values()))
        missing = [c for c in by_customer if ids[c] not in delivered]
        if not missing:
            return {}
        found = await customers.source.read_by_ids(customers.kind, missing)
        outcome = await deliver_records(customers, found)
        waiting: dict[str, CrmsyncError] = {}
        for customer_id, error in outcome.retry.items():
            for record_id in by_customer.get(customer_id, []):
                waiting[record_id] = TransientError(
                    f"waiting for {customers.kind} {customer_id} to reach the target first: {error.message}",
                    record_key=record_id,
                )
        return waiting

    return ensure
