"""End to end, as a new user would: two `crmsync emulate` servers, a config file, `crmsync sync`.

Real subprocesses, real HTTP on loopback, a real SQLite store.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CRMSYNC = [sys.executable, "-m", "crmsync.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture()
def emulators() -> Iterator[tuple[str, str]]:
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
                "e2e",
                "--seed-customers",
                "120",
            ],
            stdin=subprocess.DEVNULL,
        ),
        subprocess.Popen([*CRMSYNC, "emulate", "klaviyo", "--port", str(kl_port)], stdin=subprocess.DEVNULL),
    ]
    try:
        ct, kl = f"http://127.0.0.1:{ct_port}", f"http://127.0.0.1:{kl_port}"
        wait_http(ct)
        wait_http(kl)
        yield ct, kl
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def write_config(tmp_path: Path, ct: str, kl: str) -> Path:
    cfg = tmp_path / "crmsync.yaml"
    cfg.write_text(
        f"""
store: sqlite:///{tmp_path}/state.db
connections:
  shop:
    type: commercetools
    project_key: e2e
    api_url: {ct}
    auth_url: {ct}
    client_id: any-client
    client_secret: ${{CTP_CLIENT_SECRET}}
  marketing:
    type: klaviyo
    api_key: ${{KLAVIYO_API_KEY}}
    base_url: {kl}
flows:
  - name: shop-to-klaviyo
    source: shop
    target: marketing
    entities: [customer]
""",
        encoding="utf-8",
    )
    return cfg


ENV = {**os.environ, "CTP_CLIENT_SECRET": "e2e-secret", "KLAVIYO_API_KEY": "pk_e2e_key"}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CRMSYNC, *args],
        capture_output=True,
        text=True,
        env=env or ENV,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def sync(cfg: Path, *extra: str) -> dict:
    env = ENV
    out = subprocess.run(
        [*CRMSYNC, "sync", "customers", "-c", str(cfg), "--json", *extra],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "e2e-secret" not in out.stdout + out.stderr and "pk_e2e_key" not in out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def seed_004_address(c: dict) -> dict | None:
    """defaultBillingAddressId, else the first billingAddressIds, else the first address."""
    addresses = c.get("addresses") or []
    by_id = {a.get("id"): a for a in addresses}
    for wanted in (c.get("defaultBillingAddressId"), *(c.get("billingAddressIds") or [])[:1]):
        if wanted in by_id:
            return by_id[wanted]
    return addresses[0] if addresses else None


def all_customers(ct: str) -> list[dict]:
    tok = httpx.post(f"{ct}/oauth/token", data={"grant_type": "client_credentials"}, auth=("a", "b")).json()
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    return httpx.get(f"{ct}/e2e/customers", params={"limit": 500}, headers=h).json()["results"]


def klaviyo_profiles(kl: str) -> list[dict]:
    headers = {"Authorization": "Klaviyo-API-Key pk_e2e_key", "revision": "2026-07-15"}
    profiles, url = [], f"{kl}/api/profiles?page[size]=100"
    while url:
        body = httpx.get(url, headers=headers, timeout=10).json()
        profiles += body["data"]
        url = body["links"].get("next")
    return profiles


def test_sync_rerun_and_one_change(emulators: tuple[str, str], tmp_path: Path) -> None:
    ct, kl = emulators
    cfg = write_config(tmp_path, ct, kl)

    first = sync(cfg)
    assert first["read"] == 120 and first["delivered"] == 120 and first["failed"] == 0
    profiles = klaviyo_profiles(kl)
    assert len(profiles) == 120
    assert all(p["attributes"]["external_id"] for p in profiles)

    # mapped as seed 004 says (checked independently of the mapping code)
    customers = all_customers(ct)
    by_external = {p["attributes"]["external_id"]: p["attributes"] for p in profiles}
    for c in customers:
        attrs = by_external[c["id"]]
        assert attrs["email"] == c["email"].lower()
        assert attrs.get("first_name") == c.get("firstName") and attrs.get("last_name") == c.get("lastName")
        assert attrs.get("organization") == c.get("companyName")
        address = seed_004_address(c)
        location = attrs.get("location") or {}
        if address is not None:
            assert location.get("city") == address.get("city")
            assert location.get("zip") == address.get("postalCode")
            assert location.get("country") == address.get("country")
        # custom fields as they are, plus the storefront context (store, locale, language)
        stores = [s["key"] for s in c.get("stores") or []]
        context = {"store": stores[0], "stores": stores} if stores else {}
        if c.get("locale"):
            context |= {"locale": c["locale"], "language": c["locale"].split("-")[0]}
        assert attrs.get("properties", {}) == {**(c.get("custom") or {}).get("fields", {}), **context}

    again = sync(cfg)
    assert again["read"] == 120 and again["unchanged"] == 120 and again["target_writes"] == 0

    # change one first name through the commercetools API
    tok = httpx.post(
        f"{ct}/oauth/token", data={"grant_type": "client_credentials"}, auth=("any", "thing")
    ).json()["access_token"]
    h = {"Authorization": f"Bearer {tok}"}
    customer = httpx.get(f"{ct}/e2e/customers", params={"limit": 1, "sort": "id asc"}, headers=h).json()[
        "results"
    ][0]
    r = httpx.post(
        f"{ct}/e2e/customers/{customer['id']}",
        headers=h,
        json={
            "version": customer["version"],
            "actions": [{"action": "setFirstName", "firstName": "Changed"}],
        },
    )
    assert r.status_code == 200

    third = sync(cfg)
    assert third["delivered"] == 1 and third["unchanged"] == 119 and third["target_writes"] == 1
    changed = [p for p in klaviyo_profiles(kl) if p["attributes"]["external_id"] == customer["id"]]
    assert changed[0]["attributes"]["first_name"] == "Changed"


def test_ids_preview_status_and_errors(emulators: tuple[str, str], tmp_path: Path) -> None:
    ct, kl = emulators
    cfg = write_config(tmp_path, ct, kl)
    tok = httpx.post(f"{ct}/oauth/token", data={"grant_type": "client_credentials"}, auth=("a", "b")).json()
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    ids = [
        c["id"]
        for c in httpx.get(f"{ct}/e2e/customers", params={"limit": 3, "sort": "id asc"}, headers=h).json()[
            "results"
        ]
    ]

    partial = sync(cfg, "--ids", ",".join(ids[:2]))
    assert partial["read"] == 2 and partial["delivered"] == 2
    assert {p["attributes"]["external_id"] for p in klaviyo_profiles(kl)} == set(ids[:2])

    preview = cli("mapping", "preview", ids[0], "-c", str(cfg), "--json")
    assert preview.returncode == 0, preview.stderr
    data = json.loads(preview.stdout)
    assert data["payload"]["external_id"] == ids[0] and data["changes"] == []
    assert "firstName" in data["source_fields"] or any("firstName" in k for k in data["source_fields"])

    never = json.loads(cli("mapping", "preview", ids[2], "-c", str(cfg), "--json").stdout)
    assert never["last_delivered"] is None and {c["kind"] for c in never["changes"]} == {"added"}

    status = cli("status", "-c", str(cfg), "--json")
    assert status.returncode == 0 and "shop-to-klaviyo" in status.stdout

    missing = cli(
        "sync", "customers", "-c", str(cfg), env={k: v for k, v in ENV.items() if k != "KLAVIYO_API_KEY"}
    )
    assert missing.returncode == 2
    assert "connections.marketing.api_key" in missing.stderr and "KLAVIYO_API_KEY" in missing.stderr

    check = cli("mapping", "check")
    assert check.returncode == 0 and "commercetools" in check.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\nsource: {system: a, entity: b}\n", encoding="utf-8")
    broken = cli("mapping", "check", str(bad))
    assert broken.returncode == 2 and "target" in broken.stderr


def test_explain_finds_a_customer_by_any_id_and_shows_who_owns_what(
    emulators: tuple[str, str], tmp_path: Path
) -> None:
    ct, kl = emulators
    cfg = write_config(tmp_path, ct, kl)
    sync(cfg)
    person = sorted((c for c in all_customers(ct) if c.get("customerNumber")), key=lambda c: c["id"])[0]

    shown = cli("explain", "customer", person["customerNumber"], "-c", str(cfg))
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())  # the console wraps long lines
    assert person["id"] in text and "commercetools.customerNumber" in text
    assert "first_name = " in text and "owner commercetools" in text

    found = json.loads(cli("explain", "customer", person["id"], "-c", str(cfg), "--json").stdout)
    [target] = found["targets"].values()
    rows = {row["path"]: row for row in target["attributes"]}
    assert rows["email"]["owner"] == "commercetools"
    assert rows["email"]["values"]["commercetools"]["value"] == person["email"].lower()
    assert found["conflicts"] == []
