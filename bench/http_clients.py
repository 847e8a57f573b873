"""Which async HTTP client for the delivery path? aiohttp vs httpx against the Klaviyo emulator.

    .venv/bin/python bench/http_clients.py [--requests 3000] [--concurrency 10] [--repeat 3]

Each client sends the same profile-import upserts (rate limits off) at the same concurrency; prints
requests/s (median of the runs) and the ratio. The emulator runs in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import httpx
from _harness import emulator, median

HEADERS = {
    "Authorization": "Klaviyo-API-Key pk_bench",
    "revision": "2026-07-15",
    "Content-Type": "application/vnd.api+json",
    "Accept": "application/vnd.api+json",
}


def body(i: int) -> dict[str, object]:
    return {
        "data": {
            "type": "profile",
            "attributes": {"external_id": f"c-{i}", "email": f"c{i}@example.com", "first_name": "Bench"},
        }
    }


async def with_aiohttp(url: str, n: int, conc: int) -> float:
    sem = asyncio.Semaphore(conc)
    async with aiohttp.ClientSession(headers=HEADERS) as s:

        async def one(i: int) -> None:
            async with sem, s.post(f"{url}/api/profile-import", json=body(i)) as r:
                await r.read()
                assert r.status in (200, 201), r.status

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t0)


async def with_httpx(url: str, n: int, conc: int) -> float:
    sem = asyncio.Semaphore(conc)
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(headers=HEADERS, limits=limits) as c:

        async def one(i: int) -> None:
            async with sem:
                r = await c.post(f"{url}/api/profile-import", json=body(i))
                assert r.status_code in (200, 201), r.status_code

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with emulator("klaviyo", "--no-rate-limits") as url:
        asyncio.run(with_aiohttp(url, 200, a.concurrency))  # warm up the emulator
        aio = [asyncio.run(with_aiohttp(url, a.requests, a.concurrency)) for _ in range(a.repeat)]
        hx = [asyncio.run(with_httpx(url, a.requests, a.concurrency)) for _ in range(a.repeat)]
    m_aio, m_hx = median(aio), median(hx)
    print(f"{a.requests} profile-import upserts at concurrency {a.concurrency}, median of {a.repeat}:")
    print(f"  aiohttp {m_aio:,.0f} req/s")
    print(f"  httpx   {m_hx:,.0f} req/s")
    print(f"  aiohttp/httpx = {m_aio / m_hx:.2f}")


if __name__ == "__main__":
    main()
