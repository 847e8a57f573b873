"""Under a fault storm (20% 5xx, 10% 429, 5% timeouts, some applied-but-lost responses) every
deliverable record is eventually delivered exactly as expected, and a permanent 4xx is parked as a
dead letter and never sent again.

The mapping contract here is the default one with one realistic mistake: seed 004's spelling
``organisation`` as the Klaviyo attribute. Klaviyo answers 400 for it, so exactly the customers
with a company name must end up as dead letters, each sent once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.commercetools.seed import generate_customer_drafts
from crmsync.emulators.faults import FaultPlan
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.mapping import Projector, load_contract
from crmsync.mapping.loader import bundled_contracts
from crmsync.service import Service

STORM = FaultPlan(
    error_rate=0.20,
    throttle_rate=0.10,
    timeout_rate=0.05,
    timeout_hang_s=3.0,
    after_effect_rate=0.3,
    retry_after_s=1,
    seed=11,
)


def misspelt_contract(tmp_path: Path) -> Path:
    path = bundled_contracts()["commercetools-customer-to-klaviyo-profile"]
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    data["outbound"]["organisation"] = data["outbound"].pop("organization")
    out = tmp_path / "contract.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


@pytest.fixture()
async def stormy(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    ct = CommercetoolsEmulator("storm", faults=FaultPlan(error_rate=0.1, seed=5))
    kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01, faults=STORM)
    for draft in generate_customer_drafts(250, seed=3):
        ct.create_customer(draft)
    ct_url, kl_url = await ct.start(), await kl.start()
    cfg = {
        "store": f"sqlite:///{tmp_path / 's.db'}",
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "storm",
                "api_url": ct_url,
                "auth_url": ct_url,
                "client_id": "c",
                "client_secret": "s",
                "backoff_base_seconds": 0.05,
                "backoff_max_seconds": 0.5,
            },
            "marketing": {
                "type": "klaviyo",
                "api_key": "pk_storm",
                "base_url": kl_url,
                "timeout_seconds": 1.5,
                "max_retries": 2,
            },
        },
        "retry": {"max_attempts": 20, "schedule_seconds": [0, 0.05, 0.1, 0.2]},
        "flows": [
            {
                "name": "storm",
                "source": "shop",
                "target": "marketing",
                "bulk_threshold": 100000,
                "mapping": str(misspelt_contract(tmp_path)),
            }
        ],
    }
    svc = Service(parse_config(cfg))
    try:
        yield {"ct": ct, "kl": kl, "svc": svc}
    finally:
        await svc.aclose()
        await ct.stop()
        await kl.stop()


@pytest.mark.slow
async def test_storm_delivers_everything_deliverable_and_parks_4xx_once(stormy: dict[str, Any]) -> None:
    ct, kl, svc = stormy["ct"], stormy["kl"], stormy["svc"]
    complete, stats = await svc.sync("customers")
    assert complete
    faults = kl.fault_stats
    assert faults["error"] > 20 and faults["throttle"] > 10 and faults["timeout"] > 3, faults

    projector = Projector(load_contract("default"))
    with_company = {c["id"] for c in ct.customers.values() if c.get("companyName")}
    assert with_company, "the seed data must contain companies for this test to mean anything"
    profiles = {p["external_id"]: p for p in (dict(v) for v in kl.profiles.values())}
    for c in ct.customers.values():
        if c["id"] in with_company:
            continue
        got = profiles.get(c["id"])
        assert got is not None, f"customer {c['id']} lost in the storm"
        want = projector.project(c).payload
        assert (got.get("email"), got.get("first_name")) == (want.get("email"), want.get("first_name"))
    assert len([p for p in kl.profiles.values() if p.get("external_id")]) == len(profiles)  # no doubles

    letters = {d.record_key: d for d in svc.dlq_list(limit=10_000)}
    assert set(letters) == with_company
    assert all(d.status_code == 400 and d.field == "organisation" for d in letters.values())
    for key in with_company:  # a 400 is final: nothing for that record was sent after it
        entries = svc.store.log_query(kind="customer", record_key=key, limit=1000)
        statuses = [e.status for e in entries]
        assert 400 in statuses and statuses.index(400) == len(statuses) - 1, statuses
        last = svc.dlq_requests(letters[key])[-1]  # `dlq show`: the last request and its response
        assert (last.method, last.status, last.operation) == ("POST", 400, "create_or_update_profile")
        assert last.error is not None and "organisation" in last.error
    assert stats.failed == len(with_company)
