"""The bulk sync API on a real `crmsync run` process: POST /sync/orders → 202, again → 409; kill -9
mid-job and restart → the job is adopted and resumes from its checkpoint; stop → 200; at the end
Klaviyo holds exactly the expected order events, and a replay adds nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmsync.connectors.commercetools import create as create_ct
from crmsync.mapping.orders import OrderEventProjector

from .test_cli_sync import CRMSYNC, free_port, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ENV = {**os.environ, "CTP_CLIENT_SECRET": "s", "KLAVIYO_API_KEY": "pk_api_e2e", "CRMSYNC_ADMIN_TOKEN": "adm"}
ADMIN = {"Authorization": "Bearer adm"}
KL_HEADERS = {"Authorization": "Klaviyo-API-Key pk_api_e2e", "revision": "2026-07-15"}


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ct_port, kl_port, api_port = free_port(), free_port(), free_port()
    ct, kl, api = (f"http://127.0.0.1:{p}" for p in (ct_port, kl_port, api_port))
    cfg = tmp_path / "crmsync.yaml"
    cfg.write_text(
        f"""
store: sqlite:///{tmp_path}/state.db
connections:
  shop: {{type: commercetools, project_key: api, api_url: "{ct}", auth_url: "{ct}", client_id: c,
          client_secret: "${{CTP_CLIENT_SECRET}}"}}
  marketing: {{type: klaviyo, api_key: "${{KLAVIYO_API_KEY}}", base_url: "{kl}",
              bulk_poll_interval_seconds: 0.05}}
http: {{listen: "127.0.0.1:{api_port}", admin_token: "${{CRMSYNC_ADMIN_TOKEN}}"}}
flows:
  - {{name: api, source: shop, target: marketing, entities: [customer, order], batch_size: 100,
      bulk_threshold: 50, poll_interval_seconds: 5, lease_seconds: 2}}
""",
        encoding="utf-8",
    )
    seed = ["--seed-customers", "200", "--seed-orders", "1500"]
    emus = [
        subprocess.Popen(
            [*CRMSYNC, "emulate", "commercetools", "--port", str(ct_port), "--project-key", "api", *seed],
            stdin=subprocess.DEVNULL,
        ),
        subprocess.Popen([*CRMSYNC, "emulate", "klaviyo", "--port", str(kl_port)], stdin=subprocess.DEVNULL),
    ]
    state: dict[str, Any] = {"ct": ct, "kl": kl, "api": api, "cfg": str(cfg), "runs": []}
    try:
        wait_http(ct, timeout=120)
        wait_http(kl)
        yield state
    finally:
        for p in [*state["runs"], *emus]:
            if p.poll() is None:
                p.terminate()
                p.wait(10)


def start_run(state: dict[str, Any]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*CRMSYNC, "run", "-c", state["cfg"]], env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    state["runs"].append(proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{state['api']}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("crmsync run did not come up")


def job(state: dict[str, Any], job_id: int) -> dict[str, Any]:
    return httpx.get(f"{state['api']}/sync/jobs/{job_id}", headers=ADMIN, timeout=5).json()


def klaviyo_event_keys(kl: str) -> list[tuple[str, str]]:
    metrics = {
        m["id"]: m["attributes"]["name"]
        for m in httpx.get(f"{kl}/api/metrics", headers=KL_HEADERS, timeout=10).json()["data"]
    }
    keys: list[tuple[str, str]] = []
    url: str | None = f"{kl}/api/events?page[size]=200"
    while url:
        body = httpx.get(url, headers=KL_HEADERS, timeout=30).json()
        for e in body["data"]:
            metric_id = e["relationships"]["metric"]["data"]["id"]
            keys.append((metrics[metric_id], e["attributes"]["event_properties"]["$event_id"]))
        url = body["links"].get("next")
    return keys


async def expected_events(ct: str) -> set[tuple[str, str]]:
    settings = {"type": "commercetools", "project_key": "api", "api_url": ct, "auth_url": ct}
    connector = create_ct("shop", {**settings, "client_id": "c", "client_secret": "s"})
    projector = OrderEventProjector()
    out: set[tuple[str, str]] = set()
    try:
        async for page in connector.read_pages("order"):
            for record in page:
                out |= {(e["metric"], e["unique_id"]) for e in projector.events(record.data)}
    finally:
        await connector.aclose()
    return out


def test_start_conflict_kill_resume_stop(stack: dict[str, Any]) -> None:
    run = start_run(stack)
    api = stack["api"]
    first = httpx.post(f"{api}/sync/orders", headers=ADMIN, timeout=10)
    assert first.status_code == 202, first.text
    job_id = first.json()["id"]
    second = httpx.post(f"{api}/sync/orders", json={}, headers=ADMIN, timeout=10)
    assert second.status_code == 409 and second.json()["job"]["id"] == job_id

    deadline = time.monotonic() + 120
    while job(stack, job_id)["counts"].get("delivered", 0) < 200:  # a few batches in
        assert time.monotonic() < deadline and job(stack, job_id)["status"] == "running"
        time.sleep(0.1)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(10)

    start_run(stack)  # housekeeping adopts the orphan once its lease (2 s) has expired
    deadline = time.monotonic() + 300
    while (current := job(stack, job_id))["status"] != "completed":
        assert current["status"] == "running", current
        assert time.monotonic() < deadline, current
        time.sleep(0.2)
    assert current["resumes"] == 1 and current["errors"] == []
    assert 0 < current["counts"]["read"] < 1500  # resumed from the checkpoint, not from the start

    got = klaviyo_event_keys(stack["kl"])
    assert len(got) == len(set(got)), "an event was created twice"
    assert set(got) == asyncio.run(expected_events(stack["ct"]))

    assert httpx.post(f"{api}/sync/orders/stop", headers=ADMIN, timeout=10).status_code == 404
    replay = httpx.post(f"{api}/sync/orders", json={"restart": True}, headers=ADMIN, timeout=10).json()
    assert httpx.post(f"{api}/sync/orders/stop", headers=ADMIN, timeout=10).status_code in (200, 404)
    deadline = time.monotonic() + 120
    while (done := job(stack, replay["id"]))["status"] not in ("completed", "stopped"):
        assert time.monotonic() < deadline, done
        time.sleep(0.2)
    assert done["counts"].get("delivered", 0) == 0  # replaying (any part of) everything adds nothing
    assert len(klaviyo_event_keys(stack["kl"])) == len(got)
