"""Orders backfill: 100,000 commercetools orders → Klaviyo events, through event bulk create jobs.

    .venv/bin/python bench/orders.py [--orders 100000] [--single 2000] [--runs 1]

Emulators run in their own processes (commercetools seeded with customers, a catalog and the
orders; Klaviyo with its published rate limits on). The engine runs in this process on SQLite.
Figures: events/s and Klaviyo calls per order for the bulk path, and the same for the one-call-
per-event path (``POST /api/events``; measured on ``--single`` orders — at Klaviyo's 350/s limit
a full 100,000-order backfill that way would take well over 15 minutes), plus the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from typing import Any

from _harness import emulator, median

from crmsync.config import parse_config
from crmsync.service import Service


def config(tmp: str, ct: str, kl: str, *, bulk_threshold: int) -> dict[str, Any]:
    return {
        "store": f"sqlite:///{tmp}/s.db",
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "bench",
                "api_url": ct,
                "auth_url": ct,
                "client_id": "b",
                "client_secret": "s",
            },
            "marketing": {
                "type": "klaviyo",
                "api_key": "pk_bench",
                "base_url": kl,
                "bulk_poll_interval_seconds": 0.2,
                "max_concurrency": 32,
            },
        },
        "flows": [
            {
                "name": "b",
                "source": "shop",
                "target": "marketing",
                "entities": ["customer", "order"],
                "bulk_threshold": bulk_threshold,
                "batch_size": 5000,
            }
        ],
    }


async def backfill(orders: int, customers: int, *, bulk: bool) -> dict[str, float]:
    seed = ["--project-key", "bench", "--seed-customers", str(customers), "--seed-orders", str(orders)]
    with (
        emulator("commercetools", *seed) as ct,
        emulator("klaviyo") as kl,
        tempfile.TemporaryDirectory() as tmp,
    ):
        svc = Service(parse_config(config(tmp, ct, kl, bulk_threshold=100 if bulk else 10**9)))
        try:
            await svc.sync("customers")  # profiles first, measured separately
            before = svc.requests.writes["marketing"]
            started = time.perf_counter()
            complete, stats = await svc.sync("orders")
            elapsed = time.perf_counter() - started
            calls = svc.requests.writes["marketing"] - before
        finally:
            await svc.aclose()
    assert complete and stats.failed == 0, stats.failures[:5]
    return {
        "orders": stats.read,
        "events": stats.created,
        "seconds": elapsed,
        "events_per_s": stats.created / elapsed,
        "orders_per_s": stats.read / elapsed,
        "calls_per_order": calls / max(1, stats.read),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--single", type=int, default=2000, help="orders for the one-call-per-event figure")
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    bulk = [asyncio.run(backfill(a.orders, a.customers, bulk=True)) for _ in range(a.runs)]
    single = [asyncio.run(backfill(a.single, min(a.customers, a.single), bulk=False)) for _ in range(a.runs)]

    def med(rows: list[dict[str, float]], key: str) -> float:
        return median([r[key] for r in rows])

    print(
        f"bulk backfill of {med(bulk, 'orders'):,.0f} orders: {med(bulk, 'events'):,.0f} events in "
        f"{med(bulk, 'seconds'):.1f} s = {med(bulk, 'events_per_s'):,.0f} events/s "
        f"({med(bulk, 'orders_per_s'):,.0f} orders/s), "
        f"{med(bulk, 'calls_per_order'):.4f} Klaviyo calls per order"
    )
    print(
        f"one call per event ({med(single, 'orders'):,.0f} orders): "
        f"{med(single, 'events_per_s'):,.0f} events/s, "
        f"{med(single, 'calls_per_order'):.2f} Klaviyo calls per order"
    )
    print(
        f"ratio: {med(bulk, 'events_per_s') / med(single, 'events_per_s'):.1f}x the events/s, "
        f"{med(single, 'calls_per_order') / med(bulk, 'calls_per_order'):.0f}x fewer calls"
    )


if __name__ == "__main__":
    main()
