"""The delta path for a 10,000-record batch stays well within a bulk run's budget.

Measured on the 2-core dev machine (other work running): SQLite ~0.5-0.8 s, PostgreSQL ~1-1.9 s for
ensure_records + get_delivered + save_delivered. The bounds leave room for a slower CI machine while
still catching a per-row round trip creeping back in (that costs tens of seconds).
"""

from __future__ import annotations

import time

from crmsync.store import DeliveredWrite, StateStore

BUDGET_S = {"sqlite": 4.0, "postgresql": 8.0}


def test_ten_thousand_records_delta_round(store: StateStore) -> None:
    values = [f"customer-{i}" for i in range(10_000)]
    started = time.perf_counter()
    ids = store.ensure_records("customer", "commercetools", "id", values)
    previous = store.get_delivered("klaviyo:profile", list(ids.values()))
    store.save_delivered(
        "klaviyo:profile",
        [
            DeliveredWrite(rid, {"email": f"{ext}@example.com", "first_name": "Zoë"}, f"h-{ext}", 1)
            for ext, rid in ids.items()
        ],
    )
    elapsed = time.perf_counter() - started
    assert previous == {}
    assert len(store.get_delivered("klaviyo:profile", list(ids.values()))) == 10_000
    assert elapsed < BUDGET_S[store.backend], f"{elapsed:.2f}s on {store.backend}"
