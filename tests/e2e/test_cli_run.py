"""`crmsync run` as a real process: live sync from the Messages feed and from Pub/Sub push ingress."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .test_cli_sync import CRMSYNC, free_port, klaviyo_profiles, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ENV = {
    **os.environ,
    "CTP_CLIENT_SECRET": "e2e-secret",
    "KLAVIYO_API_KEY": "pk_e2e_key",
    "CRMSYNC_ADMIN_TOKEN": "admin-e2e",
    "CRMSYNC_INGRESS_TOKEN": "ingress-e2e",
}


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[dict[str, str]]:
    ct_port, kl_port, api_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    cfg = tmp_path / "crmsync.yaml"
    cfg.write_text(
        f"""
store: sqlite:///{tmp_path}/state.db
connections:
  shop: {{type: commercetools, project_key: live, api_url: "http://127.0.0.1:{ct_port}",
          auth_url: "http://127.0.0.1:{ct_port}", client_id: c, client_secret: "${{CTP_CLIENT_SECRET}}",
          poll_overlap_seconds: 2}}
  marketing: {{type: klaviyo, api_key: "${{KLAVIYO_API_KEY}}", base_url: "http://127.0.0.1:{kl_port}"}}
http:
  listen: 127.0.0.1:{api_port}
  admin_token: ${{CRMSYNC_ADMIN_TOKEN}}
  ingress_token: ${{CRMSYNC_INGRESS_TOKEN}}
flows:
  - {{name: live, source: shop, target: marketing, entities: [customer], poll_interval_seconds: 0.3}}
""",
        encoding="utf-8",
    )
    procs = [
        subprocess.Popen(
            [
                *CRMSYNC,
                "emulate",
                "commercetools",
                "--port",
                str(ct_port),
                "--project-key",
                "live",
                "--subscription-url",
                f"{api}/ingress/shop?token=ingress-e2e",
                "--duplicate-rate",
                "0.3",
                "--reorder-rate",
                "0.3",
            ],
            stdin=subprocess.DEVNULL,
        ),
        subprocess.Popen([*CRMSYNC, "emulate", "klaviyo", "--port", str(kl_port)], stdin=subprocess.DEVNULL),
    ]
    wait_http(f"http://127.0.0.1:{ct_port}")
    wait_http(f"http://127.0.0.1:{kl_port}")
    procs.append(
        subprocess.Popen(
            [*CRMSYNC, "run", "-c", str(cfg)],
            env=ENV,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    try:
        wait_http(f"{api}/health")
        yield {"ct": f"http://127.0.0.1:{ct_port}", "kl": f"http://127.0.0.1:{kl_port}", "api": api}
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(10)
        stderr = procs[-1].stderr.read() if procs[-1].stderr else ""
        procs[-1].stderr and procs[-1].stderr.close()
        assert "e2e-secret" not in stderr and "pk_e2e_key" not in stderr


def wait_for(pred, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_live_changes_reach_klaviyo_and_ingress_validates(stack: dict[str, str]) -> None:
    ct, kl, api = stack["ct"], stack["kl"], stack["api"]
    assert httpx.get(f"{api}/health").status_code == 200
    assert httpx.get(f"{api}/status").status_code == 401
    assert httpx.get(f"{api}/status", headers={"Authorization": "Bearer admin-e2e"}).status_code == 200

    tok = httpx.post(f"{ct}/oauth/token", data={"grant_type": "client_credentials"}, auth=("a", "b")).json()
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    r = httpx.post(
        f"{ct}/live/customers",
        headers=h,
        json={
            "email": "Live.Person@Example.com",
            "firstName": "Live",
            "lastName": "Person",
            "password": "x",
            "addresses": [
                {
                    "country": "SE",
                    "city": "Stockholm",
                    "streetName": "Drottninggatan",
                    "streetNumber": "1",
                    "mobile": "070-123 45 67",
                }
            ],
            "defaultBillingAddress": 0,
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["customer"]["id"]

    def profile() -> dict | None:
        found = [p for p in klaviyo_profiles(kl) if p["attributes"].get("external_id") == cid]
        return found[0] if found else None

    p = wait_for(profile)
    assert p["attributes"]["phone_number"] == "+46701234567"
    assert p["attributes"]["email"] == "live.person@example.com"

    r = httpx.post(
        f"{ct}/live/customers/{cid}",
        headers=h,
        json={
            "version": r.json()["customer"]["version"],
            "actions": [{"action": "setLastName", "lastName": "Changed"}],
        },
    )
    assert r.status_code == 200
    wait_for(lambda: (profile() or {}).get("attributes", {}).get("last_name") == "Changed")

    # ingress: malformed input is rejected with a precise reason, and the service keeps serving
    bad = httpx.post(f"{api}/ingress/shop?token=ingress-e2e", content=b"{not json")
    assert bad.status_code == 400 and "JSON" in bad.json()["reason"]
    env = {"message": {"data": "!!!not-base64", "messageId": "1"}, "subscription": "s"}
    bad = httpx.post(f"{api}/ingress/shop?token=ingress-e2e", json=env)
    assert bad.status_code == 400 and "base64" in bad.json()["reason"]
    assert httpx.post(f"{api}/ingress/shop", json=env).status_code == 401
    payload = {
        "notificationType": "ResourceUpdated",
        "projectKey": "live",
        "resource": {"typeId": "customer", "id": cid},
        "version": 99,
        "oldVersion": 2,
        "modifiedAt": "2026-11-23T00:00:00.000Z",
    }
    good = {
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "messageId": "42",
            "attributes": {},
        },
        "subscription": "projects/p/subscriptions/s",
    }
    ok = httpx.post(f"{api}/ingress/shop?token=ingress-e2e", json=good)
    assert ok.status_code == 200 and ok.json()["stored"] == 1
    again = httpx.post(f"{api}/ingress/shop?token=ingress-e2e", json=good)
    assert again.status_code == 200 and again.json()["stored"] == 0  # deduplicated
    assert httpx.get(f"{api}/health").status_code == 200
