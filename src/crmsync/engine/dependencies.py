"""Records that depend on others at the target: a customer's profile before its orders' events."""

from __future__ import annotations

from crmsync.engine.delivery import deliver_records
from crmsync.engine.flow import Flow, Prerequisite
from crmsync.errors import CrmsyncError, TransientError
from crmsync.ports import SourceRecord


def customers_first(customers: Flow, *, field: str = "customerId") -> Prerequisite:
    """A prerequisite for order-like records: each record's customer (``data[field]``) is delivered
    by the customer flow first, unless it already was. Records whose customer failed transiently
    must wait (they are returned); a customer that failed for good (dead-lettered, e.g. an invalid
    address) or no longer exists does not hold its orders back."""

    async def ensure(records: list[SourceRecord]) -> dict[str, CrmsyncError]:
        by_customer: dict[str, list[str]] = {}
        for record in records:
            customer_id = record.data.get(field)
            if isinstance(customer_id, str) and customer_id:
                by_customer.setdefault(customer_id, []).append(record.id)
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
                    f"waiting for customer {customer_id} to reach the target first: {error.message}",
                    record_key=record_id,
                )
        return waiting

    return ensure
