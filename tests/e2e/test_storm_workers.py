"""The fault storm on PostgreSQL with three worker processes, one of them killed mid-run.

Emulators in their own processes with fault plans (Klaviyo: 20% 5xx, 10% 429, 5% timeouts, some
responses lost after the effect; commercetools: 10% 5xx) and Klaviyo's real rate limits on. At the
end: every deliverable customer is in Klaviyo exactly once and up to date, every permanent 4xx is a
dead letter that was never re-sent, and the three workers together never sent more profile-imports
in any one-second window than Klaviyo's published limit.
"""

from __future__ import annotations

import bisect
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from crmsync.mapping import Projector, load_contract
from crmsync.mapping.loader import bundled_contracts
from crmsync.store import StateStore

from .test_cli_sync import CRMSYNC, free_port, wait_http
from .test_crash import token

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.pg]
ENV = {**os.environ, "CTP_CLIENT_SECRET": "storm-secret", "KLAVIYO_API_KEY": "pk_crash"}
KLAVIYO_FAULTS = "error=0.2,throttle=0.1,timeout=0.05,hang=3,after_effect=0.3,seed=4"


def get_json(url: str, *, params: dict | None = None, headers: dict | None = None) -> dict:
    """GET through the storm: the emulators fail on purpose, the test's own reads retry."""
    for _ in range(50):
        try:
            r = httpx.get(url, params=params, headers=headers, timeout=2)
        except httpx.HTTPError:
            continue
        if r.status_code == 200:
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"GET {url} kept failing")


def customers(ct: str) -> list[dict]:
    h, out, last = token(ct), [], None
    while True:
        params: dict[str, str | int] = {"limit": 500, "sort": "id asc", "withTotal": "false"}
        if last:
            params["where"] = f'id > "{last}"'
        page = get_json(f"{ct}/crash/customers", params=params, headers=h)["results"]
        out += page
        if len(page) < 500:
            return out
        last = page[-1]["id"]


def profiles(kl: str) -> list[dict]:
    headers = {"Authorization": "Klaviyo-API-Key pk_crash", "revision": "2026-07-15"}
    out, url = [], f"{kl}/api/profiles?page[size]=100"
    while url:
        body = get_json(url, headers=headers)
        out += body["data"]
        url = body["links"].get("next")
    return out


def max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window - 1e-9) - i for i, t in enumerate(times)), default=0)


def test_storm_with_three_workers_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    contract = yaml.safe_load(
        Path(bundled_contracts()["commercetools-customer-to-klaviyo-profile"]).read_text()
    )
    contract["outbound"]["organisation"] = contract["outbound"].pop("organization")  # seed 004's spelling
    (tmp_path / "contract.yaml").write_text(yaml.safe_dump(contract, sort_keys=False), encoding="utf-8")

    ct_port, kl_port = free_port(), free_port()
    emus = [
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
                "300",
                "--faults",
                "error=0.1,seed=2",
            ],
            stdin=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [*CRMSYNC, "emulate", "klaviyo", "--port", str(kl_port), "--faults", KLAVIYO_FAULTS],
            stdin=subprocess.DEVNULL,
        ),
    ]
    ct, kl = f"http://127.0.0.1:{ct_port}", f"http://127.0.0.1:{kl_port}"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        wait_http(ct)
        wait_http(kl)
        cfg = tmp_path / "crmsync.yaml"
        cfg.write_text(
            f"""
store: "{pg_url}"
connections:
  shop: {{type: commercetools, project_key: crash, api_url: "{ct}", auth_url: "{ct}", client_id: c,
          client_secret: "${{CTP_CLIENT_SECRET}}", poll_overlap_seconds: 2, backoff_base_seconds: 0.05}}
  marketing: {{type: klaviyo, api_key: "${{KLAVIYO_API_KEY}}", base_url: "{kl}", timeout_seconds: 1.5,
              max_retries: 2, bulk_poll_interval_seconds: 0.05}}
retry: {{max_attempts: 30, schedule_seconds: [0, 0.1, 0.2, 0.5]}}
flows:
  - {{name: storm, source: shop, target: marketing, entities: [customer], bulk_threshold: 100000,
      poll_interval_seconds: 0.2, lease_seconds: 3, mapping: "{tmp_path / "contract.yaml"}"}}
""",
            encoding="utf-8",
        )
        first = subprocess.run(
            [*CRMSYNC, "sync", "customers", "-c", str(cfg)],
            env=ENV,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert first.returncode == 1, first.stderr[-2000:]  # non-zero: the misspelt attribute's dead letters
        assert "organisation" in first.stderr

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [*CRMSYNC, "run", "-c", str(cfg), "--worker"],
                env=ENV,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        workers = [start() for _ in range(3)]
        rng = random.Random(5)
        h = token(ct)
        everyone = customers(ct)
        # live changes go to customers without a company: for the others every delivery attempt is a
        # 400, and the test checks that exactly one was ever sent (a new change would be a new attempt)
        deliverable = [c for c in everyone if not c.get("companyName")]
        for i in range(120):
            c = rng.choice(deliverable)
            for _ in range(10):  # the commercetools emulator is stormy too: retry our own writes
                try:
                    current = httpx.get(f"{ct}/crash/customers/{c['id']}", headers=h, timeout=2)
                except httpx.HTTPError:
                    continue
                if current.status_code != 200:
                    continue
                r = httpx.post(
                    f"{ct}/crash/customers/{c['id']}",
                    headers=h,
                    json={
                        "version": current.json()["version"],
                        "actions": [{"action": "setLastName", "lastName": f"Storm{i}"}],
                    },
                )
                if r.status_code in (200, 409):
                    break
            if i == 60:
                os.kill(workers[1].pid, signal.SIGKILL)  # one worker dies mid-run; nobody replaces it
                workers[1].wait(10)

        projector = Projector(load_contract("default"))
        deadline = time.monotonic() + 180
        while True:
            wanted = {
                c["id"]: projector.project(c).payload for c in customers(ct) if not c.get("companyName")
            }
            got = {p["attributes"].get("external_id"): p["attributes"] for p in profiles(kl)}
            stale = [
                k
                for k, v in wanted.items()
                if k not in got
                or (got[k].get("last_name"), got[k].get("email")) != (v.get("last_name"), v.get("email"))
            ]
            if not stale:
                break
            if time.monotonic() >= deadline:
                with StateStore.open(pg_url) as st:
                    detail = {
                        k: (
                            got.get(k, {}).get("last_name"),
                            wanted[k].get("last_name"),
                            [(d.reason, d.attempts) for d in st.dlq_list(record_key=k)],
                            st.inbox_counts(),
                        )
                        for k in stale[:3]
                    }
                raise AssertionError(f"{len(stale)} customers never arrived or are stale: {detail}")
            time.sleep(1)
        all_profiles = profiles(kl)
        ids = [p["attributes"].get("external_id") for p in all_profiles]
        assert len(ids) == len(set(ids)), "a customer became two profiles"
        injected = get_json(f"{kl}/__emulator/faults")["stats"]
        assert injected["error"] > 10 and injected["throttle"] > 5, injected
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
                w.wait(10)
        for p in emus:
            p.terminate()
            p.wait(10)

    with StateStore.open(pg_url) as store:
        companies = {c["id"] for c in everyone if c.get("companyName")}
        letters = {d.record_key: d for d in store.dlq_list(limit=10_000)}
        assert set(letters) == companies
        for key in companies:  # a 400 is final: nothing for that record was sent after it
            statuses = [e.status for e in store.log_query(kind="customer", record_key=key, limit=1000)]
            assert 400 in statuses and statuses.index(400) == len(statuses) - 1, statuses
        sends = [
            e.at.timestamp()
            for e in store.log_query(connection="marketing", limit=100_000)
            if e.url.endswith("/api/profile-import")
        ]
        assert max_in_any_window(sends, 1.0) <= 75  # three workers, one budget
