"""The bulk sync API (seed 004) over the real service, store, connectors and emulators (in-process):
202 then 409, stop at a checkpoint, resume, status and job pages, and adoption of a dead worker's job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmsync.api.app import create_app
from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.commercetools.seed import generate_customer_drafts
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.service import Service

ADMIN = {"Authorization": "Bearer admin-token"}
CUSTOMERS = 1200


def config(tmp_path: Path, ct_url: str, kl_url: str) -> dict[str, Any]:
    return {
        "store": f"sqlite:///{tmp_path / 's.db'}",
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "p",
                "api_url": ct_url,
                "auth_url": ct_url,
                "client_id": "c",
                "client_secret": "s",
            },
            "marketing": {
                "type": "klaviyo",
                "api_key": "pk_test",
                "base_url": kl_url,
                "bulk_poll_interval_seconds": 0.02,
            },
        },
        "http": {"listen": "127.0.0.1:0", "admin_token": "admin-token"},
        "flows": [
            {
                "name": "f",
                "source": "shop",
                "target": "marketing",
                "batch_size": 100,
                "bulk_threshold": 20,
                "lease_seconds": 2,
            }
        ],
    }


@pytest.fixture()
async def api(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    ct = CommercetoolsEmulator("p")
    kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.25)
    ct_url, kl_url = await ct.start(), await kl.start()
    for draft in generate_customer_drafts(CUSTOMERS):
        ct.create_customer(draft)
    svc = Service(parse_config(config(tmp_path, ct_url, kl_url)))
    transport = httpx.ASGITransport(app=create_app(svc))
    client = httpx.AsyncClient(transport=transport, base_url="http://crmsync", headers=ADMIN)
    try:
        yield {"ct": ct, "kl": kl, "svc": svc, "client": client, "tmp": tmp_path, "urls": (ct_url, kl_url)}
    finally:
        await client.aclose()
        await svc.aclose()
        await ct.stop()
        await kl.stop()


async def wait_status(client: httpx.AsyncClient, job_id: int, *wanted: str) -> dict:
    async with asyncio.timeout(60):
        while True:
            job = (await client.get(f"/sync/jobs/{job_id}")).json()
            if job["status"] in wanted:
                return job
            await asyncio.sleep(0.05)


def profile_count(kl: KlaviyoEmulator) -> int:
    return len([p for p in kl.profiles.values() if p.get("external_id")])


async def test_start_conflict_stop_resume_and_status(api: dict[str, Any]) -> None:
    client, kl = api["client"], api["kl"]
    first = await client.post("/sync/customers")
    assert first.status_code == 202, first.text
    job = first.json()
    assert job["status"] == "running" and job["entity"] == "customer" and job["ids_count"] is None

    again = await client.post("/sync/customers", json={})
    assert again.status_code == 409
    assert again.json()["error"] == "conflict" and again.json()["job"]["id"] == job["id"]

    for _ in range(3000):  # until the job has delivered a few batches (its heartbeat reports them)
        if (await client.get(f"/sync/jobs/{job['id']}")).json()["counts"].get("delivered", 0) >= 200:
            break
        await asyncio.sleep(0.02)
    stopped = await client.post("/sync/customers/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopping"
    done = await wait_status(client, job["id"], "stopped")
    assert done["stop_requested"] and done["finished_at"] is not None
    delivered_first = done["counts"]["delivered"]
    assert 200 <= delivered_first < CUSTOMERS, done["counts"]
    assert profile_count(kl) == delivered_first  # stopped at a clean checkpoint: nothing half-done
    assert (await client.post("/sync/customers/stop")).status_code == 404  # nothing runs any more

    second = (await client.post("/sync/customers")).json()
    assert second["id"] != job["id"]
    finished = await wait_status(client, second["id"], "completed")
    # resumed after the checkpoint: the records delivered by the first job were not read again
    assert finished["counts"]["read"] == CUSTOMERS - delivered_first, finished["counts"]
    assert finished["errors"] == []
    assert profile_count(kl) == CUSTOMERS

    status = (await client.get("/sync/status")).json()["f:customer"]
    assert status["running"] is None and status["last"]["id"] == second["id"]
    listed = (await client.get("/sync/jobs")).json()
    assert [j["id"] for j in listed] == [second["id"], job["id"]]


async def test_partial_sync_by_ids_and_input_errors(api: dict[str, Any]) -> None:
    client, ct, kl = api["client"], api["ct"], api["kl"]
    ids = sorted(ct.customers)[:3]
    job = (await client.post("/sync/customers", json={"ids": [*ids, ids[0], "no-such-id"]})).json()
    assert job["ids_count"] == 4  # deduplicated
    done = await wait_status(client, job["id"], "completed")
    assert done["counts"]["read"] == 3 and done["counts"]["failed"] == 1
    assert {p.get("external_id") for p in kl.profiles.values()} >= set(ids) and profile_count(kl) == 3

    assert (await client.post("/sync/customers", json={"ids": "x"})).status_code == 422
    assert (await client.post("/sync/customers", json={"bogus": 1})).status_code == 422
    assert (await client.post("/sync/widgets")).status_code == 404  # no such route
    orders = await client.post("/sync/orders")
    assert orders.status_code == 404 and "order" in orders.json()["detail"]
    assert (await client.get("/sync/jobs/999")).status_code == 404
    anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://crmsync")
    assert (await anonymous.post("/sync/customers")).status_code == 401
    assert (await anonymous.get("/sync/status")).status_code == 401
    await anonymous.aclose()


async def test_a_dead_workers_job_is_adopted_and_resumed_from_its_checkpoint(api: dict[str, Any]) -> None:
    """A job whose worker died mid-run (lease expired, status still running) is not a stuck lock:
    the next start resumes the same job from the checkpointed cursor."""
    client, svc, ct = api["client"], api["svc"], api["ct"]
    flow = svc.flow("customer")
    ids = sorted(ct.customers)
    dead = svc.store.job_create(flow.name, flow.kind, "dead-worker")
    svc.store.lease_acquire([f"job:{flow.name}:{flow.kind}"], "dead-worker", timedelta(seconds=-1))
    svc.store.set_checkpoint(flow.checkpoint_name("bulk"), {"status": "running", "after": ids[499]})

    started = await client.post("/sync/customers")
    assert started.status_code == 202 and started.json()["id"] == dead.id
    done = await wait_status(client, dead.id, "completed")
    assert done["resumes"] == 1 and done["owner"] == svc.worker_id
    assert done["counts"]["read"] == CUSTOMERS - 500
