"""crmsync benchmark: customer bulk load and a live burst against the emulators.

    .venv/bin/python bench/run.py [--customers 10000] [--burst 300] [--repeat 3]

Runs each scenario with the Klaviyo emulator's rate limits off, then on. The emulators run in their
own processes (as the vendors would), the engine in this one, so the peak RSS is the engine's.
Prints records/s, Klaviyo write requests per changed customer (retries after a 429 included), p50/p99
latency from a stored event to its Klaviyo call, and peak RSS. Medians over ``--repeat`` runs.
A live "trickle" stays below the bulk threshold (one profile-import per change); a "burst" above it
goes through a bulk import job (fewer calls, more latency).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _harness import emulator, median

from crmsync.config import parse_config
from crmsync.service import Service


def config(ct_url: str, kl_url: str, store: str) -> dict[str, Any]:
    return {
        "store": store,
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "bench",
                "api_url": ct_url,
                "auth_url": ct_url,
                "client_id": "bench",
                "client_secret": "bench-secret",
                "poll_overlap_seconds": 2.0,
            },
            "marketing": {"type": "klaviyo", "api_key": "pk_bench", "base_url": kl_url},
        },
        "flows": [
            {
                "name": "bench",
                "source": "shop",
                "target": "marketing",
                "entities": ["customer"],
                "poll_interval_seconds": 0.2,
            }
        ],
    }


async def ct_token(session: aiohttp.ClientSession, ct_url: str) -> str:
    basic = base64.b64encode(b"bench:bench-secret").decode()
    async with session.post(
        f"{ct_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    ) as r:
        return str((await r.json())["access_token"])


async def change_customers(ct_url: str, n: int, rng: random.Random) -> dict[str, str]:
    """Change ``n`` distinct customers' first names through the commercetools HTTP API."""
    async with aiohttp.ClientSession() as s:
        headers = {"Authorization": f"Bearer {await ct_token(s, ct_url)}"}
        async with s.get(
            f"{ct_url}/bench/customers",
            params={"limit": "500", "withTotal": "false", "sort": "id asc"},
            headers=headers,
        ) as r:
            customers = (await r.json())["results"]
        picked = rng.sample(customers, min(n, len(customers)))
        names = {c["id"]: f"Bench{rng.randint(0, 10**9)}" for c in picked}
        sem = asyncio.Semaphore(16)

        async def one(c: dict[str, Any]) -> None:
            body = {
                "version": c["version"],
                "actions": [{"action": "setFirstName", "firstName": names[c["id"]]}],
            }
            async with sem, s.post(f"{ct_url}/bench/customers/{c['id']}", json=body, headers=headers) as r:
                r.raise_for_status()

        await asyncio.gather(*(one(c) for c in picked))
        return names


def delivered_names(svc: Service, ids: list[str]) -> dict[str, str]:
    """First names as last delivered to Klaviyo, read from the state store."""
    flow = svc.flow("customer")
    internal = svc.store.resolve_many("customer", "commercetools", "id", ids)
    delivered = svc.store.get_delivered(flow.target_key, list(internal.values()))
    back = {v: k for k, v in internal.items()}
    return {back[i]: str(d.payload.get("first_name")) for i, d in delivered.items()}


async def wait_idle(svc: Service, quiet: float = 1.0) -> None:
    """Wait until the inbox has had nothing pending for ``quiet`` seconds."""
    since = time.perf_counter()
    while time.perf_counter() - since < quiet:
        await asyncio.sleep(0.1)
        if svc.store.inbox_counts().get("pending", 0):
            since = time.perf_counter()


async def scenario(
    customers: int, trickle: int, burst: int, rate_limits: bool, seed: int
) -> dict[str, float]:
    args = [] if rate_limits else ["--no-rate-limits"]
    with (
        emulator("commercetools", "--project-key", "bench", "--seed-customers", str(customers)) as ct_url,
        emulator("klaviyo", *args) as kl_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        svc = Service(parse_config(config(ct_url, kl_url, f"sqlite:///{Path(tmp) / 'bench.db'}")))
        try:
            t0 = time.perf_counter()
            _, bulk = await svc.sync("customers")
            bulk_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            _, again = await svc.sync("customers", resume=False)
            again_s = time.perf_counter() - t0

            flow = svc.flow("customer")
            stop = asyncio.Event()
            live = asyncio.create_task(svc.run_live(stop))
            out = {
                "bulk_records_per_s": bulk.read / bulk_s,
                "bulk_write_requests": float(bulk.target_writes),
                "bulk_customers_per_write": bulk.delivered / max(1, bulk.target_writes),
                "resync_records_per_s": again.read / again_s,
                "resync_writes": float(again.target_writes),
            }
            rng = random.Random(seed)
            for label, size in (("trickle", trickle), ("burst", burst)):
                await wait_idle(svc)  # the feed's overlap window replays older messages: let it settle
                flow.stats = type(flow.stats)()
                writes0 = svc.requests.writes["marketing"]
                t0 = time.perf_counter()
                names = await change_customers(ct_url, size, rng)
                while time.perf_counter() - t0 < 300:
                    if delivered_names(svc, list(names)) == names:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError(f"the live {label} was not delivered within 300 s")
                took = time.perf_counter() - t0
                out[f"{label}_changes_per_s"] = len(names) / took
                out[f"{label}_requests_per_changed"] = (svc.requests.writes["marketing"] - writes0) / len(
                    names
                )
                out[f"{label}_p50_ms"] = flow.stats.latency_percentile(50) or float("nan")
                out[f"{label}_p99_ms"] = flow.stats.latency_percentile(99) or float("nan")
            stop.set()
            await live
            return out
        finally:
            await svc.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--trickle", type=int, default=50, help="live changes below the bulk threshold")
    ap.add_argument("--burst", type=int, default=300, help="live changes at once (above the bulk threshold)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    print(
        f"crmsync bench: {a.customers:,} customers; live trickle of {a.trickle} and burst of {a.burst} "
        f"changes; median of {a.repeat} run(s)"
    )
    results: dict[bool, dict[str, float]] = {}
    for limits in (False, True):
        runs = [
            asyncio.run(scenario(a.customers, a.trickle, a.burst, limits, a.seed + i))
            for i in range(a.repeat)
        ]
        results[limits] = {k: median([r[k] for r in runs]) for k in runs[0]}
    keys = list(results[False])
    print(f"{'metric':<28}{'rate limits off':>18}{'rate limits on':>18}{'on/off':>10}")
    for k in keys:
        off, on = results[False][k], results[True][k]
        ratio = on / off if off else float("nan")
        print(f"{k:<28}{off:>18,.2f}{on:>18,.2f}{ratio:>10.2f}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak RSS of the engine (MB)':<28}{rss_mb:>18,.1f}")


if __name__ == "__main__":
    main()
