"""Promise 1 and 2 by force: kill -9 the real crmsync process at random moments, restart it, and
compare the Klaviyo emulator's final state with the expected one — nothing lost, nothing doubled.

The emulators run in their own processes and survive every kill, as the vendors would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crmsync.mapping import Projector, load_contract

from .test_cli_sync import CRMSYNC, free_port, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILLS = 20
ENV = {**os.environ, "CTP_CLIENT_SECRET": "crash-secret", "KLAVIYO_API_KEY": "pk_crash"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    store = (
        f"sqlite:///{tmp_path}/state.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    ct_port, kl_port = free_port(), free_port()
    procs = [
        subprocess.Popen(
            [
                *CRMSYNC,
                "emulate",
                "commercetools",
                "--port",
                str(ct_port),
                "--project-key",
                "crash",
                "--seed-customers",
                "3000",
            ],
            stdin=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [*CRMSYNC, "emulate", "klaviyo", "--port", str(kl_port), "--no-rate-limits"],
            stdin=subprocess.DEVNULL,
        ),
    ]
    ct, kl = f"http://127.0.0.1:{ct_port}", f"http://127.0.0.1:{kl_port}"
    wait_http(ct)
    wait_http(kl)
    cfg = tmp_path / "crmsync.yaml"
    cfg.write_text(
        f"""
store: "{store}"
connections:
  shop: {{type: commercetools, project_key: crash, api_url: "{ct}", auth_url: "{ct}", client_id: c,
          client_secret: "${{CTP_CLIENT_SECRET}}", poll_overlap_seconds: 2}}
  marketing: {{type: klaviyo, api_key: "${{KLAVIYO_API_KEY}}", base_url: "{kl}",
              bulk_poll_interval_seconds: 0.05}}
http: {{listen: "127.0.0.1:{free_port()}"}}
flows:
  - {{name: crash, source: shop, target: marketing, entities: [customer], batch_size: 150, bulk_threshold: 50,
      poll_interval_seconds: 0.2, lease_seconds: 3}}
""",
        encoding="utf-8",
    )
    try:
        yield {"ct": ct, "kl": kl, "cfg": str(cfg), "backend": request.param}
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def token(ct: str) -> dict[str, str]:
    tok = httpx.post(f"{ct}/oauth/token", data={"grant_type": "client_credentials"}, auth=("a", "b")).json()
    return {"Authorization": f"Bearer {tok['access_token']}"}


def customers(ct: str) -> list[dict]:
    h, out, last = token(ct), [], None
    while True:
        params: dict[str, str | int] = {"limit": 500, "sort": "id asc", "withTotal": "false"}
        if last:
            params["where"] = f'id > "{last}"'
        page = httpx.get(f"{ct}/crash/customers", params=params, headers=h, timeout=30).json()["results"]
        out += page
        if len(page) < 500:
            return out
        last = page[-1]["id"]


def profiles(kl: str) -> list[dict]:
    headers = {"Authorization": "Klaviyo-API-Key pk_crash", "revision": "2026-07-15"}
    out, url = [], f"{kl}/api/profiles?page[size]=100"
    while url:
        body = httpx.get(url, headers=headers, timeout=30).json()
        out += body["data"]
        url = body["links"].get("next")
    return out


def assert_klaviyo_matches(ct: str, kl: str) -> None:
    projector = Projector(load_contract("default"))
    expected = {c["id"]: projector.project(c).payload for c in customers(ct)}
    got = profiles(kl)
    external_ids = [p["attributes"].get("external_id") for p in got]
    assert len(external_ids) == len(set(external_ids)), "a customer became two profiles"
    assert set(external_ids) == set(expected), "profiles lost or unexpected"
    for p in got:
        attrs, want = p["attributes"], expected[p["attributes"]["external_id"]]
        for key in ("email", "first_name", "last_name", "phone_number"):
            assert attrs.get(key) == want.get(key), (key, attrs.get(key), want.get(key))


def kill_at_random(cmd: list[str], rng: random.Random, low: float, high: float) -> int:
    proc = subprocess.Popen(
        cmd, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        proc.wait(timeout=rng.uniform(low, high))
        return proc.returncode  # finished before the kill
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return -9


def test_bulk_load_survives_kill_9(stack: dict[str, str]) -> None:
    rng = random.Random(20261123)
    cmd = [*CRMSYNC, "sync", "customers", "-c", stack["cfg"]]
    kills = 0
    for _ in range(KILLS):
        if kill_at_random(cmd, rng, 0.6, 2.2) == -9:
            kills += 1
    final = subprocess.run(
        cmd, env=ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
    )
    assert final.returncode == 0, final.stderr[-2000:]
    assert kills >= KILLS // 2, f"only {kills} kills landed mid-run"
    assert_klaviyo_matches(stack["ct"], stack["kl"])


def test_live_sync_survives_kill_9(stack: dict[str, str]) -> None:
    rng = random.Random(7)
    ct = stack["ct"]
    first = subprocess.run(
        [*CRMSYNC, "sync", "customers", "-c", stack["cfg"]],
        env=ENV,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr[-2000:]
    h = token(ct)
    everyone = customers(ct)
    run_cmd = [*CRMSYNC, "run", "-c", stack["cfg"], "--worker"]
    n_workers = 3 if stack["backend"] == "postgresql" else 1  # SQLite: one process; PostgreSQL: many

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            run_cmd, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    workers = [start() for _ in range(n_workers)]
    kills = 0
    try:
        for round_no in range(KILLS):
            deadline = time.monotonic() + rng.uniform(0.8, 2.5)
            while time.monotonic() < deadline:  # change customers while the workers run
                c = rng.choice(everyone)
                current = httpx.get(f"{ct}/crash/customers/{c['id']}", headers=h).json()
                httpx.post(
                    f"{ct}/crash/customers/{c['id']}",
                    headers=h,
                    json={
                        "version": current["version"],
                        "actions": [
                            {"action": "setFirstName", "firstName": f"R{round_no}-{rng.randint(0, 10**6)}"}
                        ],
                    },
                )
                time.sleep(0.02)
            victim = rng.randrange(n_workers)  # kill -9 one worker mid-run, start a replacement
            os.kill(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait(10)
            workers[victim] = start()
            kills += 1
        deadline = time.monotonic() + 120
        while True:
            try:
                assert_klaviyo_matches(ct, stack["kl"])
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        for w in workers:
            w.terminate()
            w.wait(10)
    assert kills == KILLS
