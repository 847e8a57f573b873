"""Delivery-guarantee benchmarks (issue 4), against emulators in their own processes.

    .venv/bin/python bench/delivery.py [--customers 2000] [--changes 1200] [--pg postgresql://...]

1. live throughput with 1 and 3 `crmsync run --worker` processes sharing a PostgreSQL store
   (a backlog of changed customers, Klaviyo rate limits off): events/s until the inbox is drained;
2. rate-budget use under a backlog with Klaviyo's real limits on: achieved profile-import rate as a
   share of the published burst limit (goal: >= 90%, never above);
3. extra requests caused by retries under a fault storm (20% 5xx, 10% 429, 5% timeouts);
4. recovery time after kill -9 of the only worker: restart until the backlog is delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
from _harness import emulator

from crmsync.config import parse_config
from crmsync.service import Service
from crmsync.store import StateStore

ENV = {**os.environ, "CTP_CLIENT_SECRET": "bench-secret", "KLAVIYO_API_KEY": "pk_bench"}
CRMSYNC = [sys.executable, "-m", "crmsync.cli.main"]


def fresh_db(admin_url: str) -> str:
    name = f"crmsync_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def write_config(
    path: Path, store: str, ct: str, kl: str, *, lease: float = 30, extra: str = "", bulk: int = 100000
) -> Path:
    path.write_text(
        f"""
store: "{store}"
connections:
  shop: {{type: commercetools, project_key: bench, api_url: "{ct}", auth_url: "{ct}", client_id: b,
          client_secret: "${{CTP_CLIENT_SECRET}}", poll_overlap_seconds: 2}}
  marketing: {{type: klaviyo, api_key: "${{KLAVIYO_API_KEY}}", base_url: "{kl}", max_concurrency: 16{extra}}}
flows:
  - {{name: bench, source: shop, target: marketing, entities: [customer], bulk_threshold: {bulk},
      poll_interval_seconds: 0.2, lease_seconds: {lease}}}
""",
        encoding="utf-8",
    )
    return path


async def change(ct: str, n: int, seed: int) -> None:
    basic = base64.b64encode(b"b:bench-secret").decode()
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{ct}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        ) as r:
            h = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        customers, last = [], None
        while True:
            params = {"limit": "500", "sort": "id asc", "withTotal": "false"}
            if last:
                params["where"] = f'id > "{last}"'
            async with s.get(f"{ct}/bench/customers", params=params, headers=h) as r:
                page = (await r.json())["results"]
            customers += page
            if len(page) < 500:
                break
            last = page[-1]["id"]
        rng = random.Random(seed)
        sem = asyncio.Semaphore(16)

        async def one(c: dict) -> None:
            body = {
                "version": c["version"],
                "actions": [{"action": "setLastName", "lastName": f"B{rng.random()}"}],
            }
            async with sem, s.post(f"{ct}/bench/customers/{c['id']}", json=body, headers=h) as r:
                r.raise_for_status()

        await asyncio.gather(*(one(c) for c in rng.sample(customers, min(n, len(customers)))))


def drained(store_url: str) -> bool:
    with StateStore.open(store_url) as store:
        counts = store.inbox_counts()
    return counts["pending"] == 0 and counts["done"] + counts["stale"] + counts["failed"] > 0


def wait_drained(store_url: str, timeout: float = 600) -> float:
    t0 = time.perf_counter()
    while not drained(store_url):
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("inbox not drained")
        time.sleep(0.2)
    return time.perf_counter() - t0


def workers_throughput(pg: str, customers: int, changes: int, n_workers: int) -> float:
    store = fresh_db(pg)
    with (
        emulator("commercetools", "--project-key", "bench", "--seed-customers", str(customers)) as ct,
        emulator("klaviyo", "--no-rate-limits") as kl,
        tempfile.TemporaryDirectory() as tmp,
    ):
        # a large backlog goes through bulk import jobs (single upserts would be capped by Klaviyo's
        # 750/min steady limit, whatever the number of workers)
        cfg = write_config(Path(tmp) / "c.yaml", store, ct, kl, bulk=100)
        subprocess.run(
            [*CRMSYNC, "sync", "customers", "-c", str(cfg)],
            env=ENV,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # the full read pinned the feed at its start: these changes wait in the Messages API as a backlog
        asyncio.run(change(ct, changes, 1))
        procs = [
            subprocess.Popen(
                [*CRMSYNC, "run", "-c", str(cfg), "--worker"],
                env=ENV,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(n_workers)
        ]
        try:
            t0 = time.perf_counter()
            while True:  # wait for the backlog to be in the inbox and drained
                with StateStore.open(store) as st:
                    c = st.inbox_counts()
                if c["pending"] == 0 and c["done"] + c["stale"] + c["failed"] >= changes:
                    break
                time.sleep(0.1)
            return changes / (time.perf_counter() - t0)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def inproc_config(tmp: str, ct: str, kl: str, *, marketing: dict, retry: dict | None = None) -> dict:
    """A SQLite config for an engine in this process, single upserts only (no bulk jobs)."""
    cfg: dict = {
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
            "marketing": {"type": "klaviyo", "api_key": "pk_bench", "base_url": kl, **marketing},
        },
        "flows": [{"name": "b", "source": "shop", "target": "marketing", "bulk_threshold": 100000}],
    }
    if retry is not None:
        cfg["retry"] = retry
    return cfg


async def rate_budget_use(n: int) -> tuple[float, int]:
    with (
        emulator("commercetools", "--project-key", "bench", "--seed-customers", str(n)) as ct,
        emulator("klaviyo") as kl,
        tempfile.TemporaryDirectory() as tmp,
    ):
        cfg = inproc_config(tmp, ct, kl, marketing={"max_concurrency": 32})
        svc = Service(parse_config(cfg))
        try:
            await svc.sync("customers")
            sends = sorted(
                e.at.timestamp()
                for e in svc.store.log_query(connection="marketing", limit=100_000)
                if e.url.endswith("/api/profile-import")
            )
            throttled = svc.requests.by_status[("marketing", 429)]
        finally:
            await svc.aclose()
    rate = (len(sends) - 1) / (sends[-1] - sends[0])
    return rate / 75.0, throttled


async def storm_overhead(n: int) -> float:
    faults = "error=0.2,throttle=0.1,timeout=0.05,hang=2,seed=3"
    with (
        emulator("commercetools", "--project-key", "bench", "--seed-customers", str(n)) as ct,
        emulator("klaviyo", "--no-rate-limits", "--faults", faults) as kl,
        tempfile.TemporaryDirectory() as tmp,
    ):
        cfg = inproc_config(
            tmp,
            ct,
            kl,
            marketing={"timeout_seconds": 1.0},
            retry={"max_attempts": 30, "schedule_seconds": [0, 0.1, 0.2]},
        )
        svc = Service(parse_config(cfg))
        try:
            _, stats = await svc.sync("customers")
            requests = svc.requests.requests["marketing"]
        finally:
            await svc.aclose()
    return requests / max(1, stats.delivered)


def recovery_after_kill(customers: int, changes: int, lease: float) -> float:
    with (
        emulator("commercetools", "--project-key", "bench", "--seed-customers", str(customers)) as ct,
        emulator("klaviyo", "--no-rate-limits") as kl,
        tempfile.TemporaryDirectory() as tmp,
    ):
        store = f"sqlite:///{tmp}/s.db"
        cfg = write_config(Path(tmp) / "c.yaml", store, ct, kl, lease=lease)
        subprocess.run(
            [*CRMSYNC, "sync", "customers", "-c", str(cfg)],
            env=ENV,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        worker = subprocess.Popen(
            [*CRMSYNC, "run", "-c", str(cfg), "--worker"],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)
        asyncio.run(change(ct, changes, 2))
        time.sleep(0.5)
        worker.send_signal(signal.SIGKILL)  # mid-backlog
        worker.wait()
        t0 = time.perf_counter()
        worker = subprocess.Popen(
            [*CRMSYNC, "run", "-c", str(cfg), "--worker"],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_drained(store)
            return time.perf_counter() - t0
        finally:
            worker.terminate()
            worker.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--changes", type=int, default=1200)
    ap.add_argument(
        "--pg", default=os.environ.get("CRMSYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    a = ap.parse_args()
    one = workers_throughput(a.pg, a.customers, a.changes, 1)
    three = workers_throughput(a.pg, a.customers, a.changes, 3)
    print(
        f"live backlog of {a.changes} changes on PostgreSQL: 1 worker {one:,.0f} events/s, "
        f"3 workers {three:,.0f} events/s (3/1 = {three / one:.2f})"
    )
    use, throttled = asyncio.run(rate_budget_use(600))
    print(
        f"rate budget under a 600-profile backlog (limits on): {use:.1%} of the 75/s burst limit, "
        f"{throttled} x 429"
    )
    extra = asyncio.run(storm_overhead(300))
    print(f"fault storm (20% 5xx, 10% 429, 5% timeouts): {extra:.2f} Klaviyo requests per delivered profile")
    rec = recovery_after_kill(a.customers, 400, lease=5)
    print(f"recovery after kill -9 mid-backlog (lease 5 s): backlog delivered {rec:.1f} s after restart")


if __name__ == "__main__":
    main()
