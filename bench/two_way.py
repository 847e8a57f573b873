"""Two-way customer truth: how fast CRM-side changes come back, and that nothing echoes.

    .venv/bin/python bench/two_way.py [--customers 2000] [--edits 200] [--runs 3]

Emulators run in their own processes (Klaviyo with its published rate limits on); the engine runs
in this one on SQLite, with ``ownership.two_way``: the loyalty tier belongs to Klaviyo (written back
to the commercetools custom field), everything else to the shop. After the initial load and the
first read-back (every profile is new to it), ``--edits`` profiles are edited in Klaviyo over its
API: half change the tier (CRM-owned: written back to the shop), half the first name (shop-owned: a
conflict, reverted). Figures: read-back profiles/s of the first poll, seconds until the edits have
converged (polls, write-backs, restores, the shop's resulting events), crmsync's writes per edit to
each system, and the writes of one more full round after convergence (echoes; must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from typing import Any

import httpx
from _harness import emulator, median

from crmsync.config import parse_config
from crmsync.engine import poll_once, process_inbox
from crmsync.engine.readback import PullResult, pull_changes
from crmsync.service import Service

TIER = "properties.loyaltyTier"
HEADERS = {"Authorization": "Klaviyo-API-Key pk_bench", "revision": "2026-07-15"}


def config(tmp: str, ct: str, kl: str) -> dict[str, Any]:
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
                "customer_type_key": "customer-profile",
                "poll_overlap_seconds": 1,
            },
            "marketing": {"type": "klaviyo", "api_key": "pk_bench", "base_url": kl},
        },
        "flows": [
            {
                "name": "b",
                "source": "shop",
                "target": "marketing",
                "entities": ["customer"],
                "ownership": {"crm": [TIER], "two_way": True, "write_back": {TIER: "loyaltyTier"}},
            }
        ],
    }


async def drain(svc: Service) -> PullResult:
    """Read back until the CRM reports nothing new; the totals of those polls."""
    total = PullResult()
    while True:
        got = await pull_changes(svc.flow("customer"))
        for name in ("changes", "written", "conflicts", "restored", "failed"):
            setattr(total, name, getattr(total, name) + getattr(got, name))
        if got.changes == 0:
            return total


async def live(svc: Service) -> None:
    flow = svc.flow("customer")
    await poll_once(flow)
    while await process_inbox(flow):
        pass


async def one_run(customers: int, edits: int) -> dict[str, float]:
    seed = ["--project-key", "bench", "--seed-customers", str(customers)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        emulator("commercetools", *seed) as ct,
        emulator("klaviyo") as kl,
    ):
        svc = Service(parse_config(config(tmp, ct, kl)))
        try:
            complete, stats = await svc.sync("customers")
            assert complete and stats.failed == 0, stats.failures
            t0 = time.perf_counter()
            first = await drain(svc)
            first_secs = time.perf_counter() - t0

            async with httpx.AsyncClient(base_url=kl, headers=HEADERS, timeout=30) as client:
                ids: list[str] = []
                url: str | None = "/api/profiles?page[size]=100&fields[profile]=external_id"
                while url and len(ids) < edits:
                    page = (await client.get(url)).json()
                    ids += [p["id"] for p in page["data"] if p["attributes"].get("external_id")]
                    url = page["links"].get("next")
                for n, pid in enumerate(ids[:edits]):
                    attrs = (
                        {"properties": {"loyaltyTier": "platinum"}} if n % 2 else {"first_name": "Mallory"}
                    )
                    body = {"data": {"type": "profile", "id": pid, "attributes": attrs}}
                    resp = await client.patch(f"/api/profiles/{pid}", json=body)
                    if resp.status_code == 429:
                        await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                        resp = await client.patch(f"/api/profiles/{pid}", json=body)
                    resp.raise_for_status()

            writes = svc.requests.writes
            shop0, crm0 = writes["shop"], writes["marketing"]
            t0 = time.perf_counter()
            converged = PullResult()
            for _ in range(10):  # poll, write back, restore, the shop's events ... until quiet
                got = await drain(svc)
                await live(svc)
                for name in ("changes", "written", "conflicts", "restored", "failed"):
                    setattr(converged, name, getattr(converged, name) + getattr(got, name))
                if got.changes == 0:
                    break
            secs = time.perf_counter() - t0
            shop_writes, crm_writes = writes["shop"] - shop0, writes["marketing"] - crm0

            shop1, crm1 = writes["shop"], writes["marketing"]
            await drain(svc)
            await live(svc)
            await drain(svc)
            echoes = writes["shop"] - shop1 + writes["marketing"] - crm1
        finally:
            await svc.aclose()
    return {
        "first_poll_profiles": first.changes,
        "first_poll_profiles_per_s": first.changes / first_secs if first_secs else float("nan"),
        "edits": edits,
        "converge_s": secs,
        "written_back": converged.written,
        "conflicts": converged.conflicts,
        "restored": converged.restored,
        "shop_writes_per_tier_edit": shop_writes / max(1, edits // 2),
        "klaviyo_writes_per_name_edit": crm_writes / max(1, edits - edits // 2),
        "echo_writes_after": echoes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [asyncio.run(one_run(args.customers, args.edits)) for _ in range(args.runs)]
    print(
        f"crmsync two-way bench: {args.customers:,} customers, {args.edits} edits in Klaviyo; "
        f"median of {args.runs}"
    )
    for key in runs[0]:
        print(f"{key:32s} {median([r[key] for r in runs]):>12,.2f}")


if __name__ == "__main__":
    main()
