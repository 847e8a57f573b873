"""Identity: a customer who exists in Klaviyo before crmsync first runs (same e-mail, no external_id)
is linked, not duplicated — one by one and in bulk jobs — and `explain` shows the links, the rule
that matched, what was delivered and the history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.commercetools.seed import generate_customer_drafts
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.explain import explain
from crmsync.service import Service

from .support import service_config

HEADERS = {"Authorization": "Klaviyo-API-Key pk_test", "revision": "2026-07-15"}


@pytest.fixture(params=["one-by-one", "bulk", "lookup-first"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    ct = CommercetoolsEmulator("p")
    kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01)
    ct_url, kl_url = await ct.start(), await kl.start()
    for draft in generate_customer_drafts(8, seed=21):
        ct.create_customer(draft)
    flow: dict[str, Any] = {"bulk_threshold": 1 if request.param == "bulk" else 1000}
    if request.param == "lookup-first":  # look the profile up (external_id, then email) before writing
        flow["match_order"] = ["external_id", "email"]
    cfg = service_config(tmp_path / "s.db", ct_url, kl_url, flow=flow)
    svc = Service(parse_config(cfg))
    try:
        yield {"ct": ct, "kl": kl, "kl_url": kl_url, "svc": svc, "mode": request.param}
    finally:
        await svc.aclose()
        await ct.stop()
        await kl.stop()


async def test_an_existing_profile_is_linked_not_duplicated_and_explained(stack: dict[str, Any]) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    person = sorted(ct.customers.values(), key=lambda c: c["id"])[0]
    async with httpx.AsyncClient(base_url=stack["kl_url"], headers=HEADERS) as client:
        created = await client.post(
            "/api/profiles",
            json={
                "data": {"type": "profile", "attributes": {"email": person["email"], "first_name": "Before"}}
            },
        )
    assert created.status_code == 201, created.text
    existing_id = created.json()["data"]["id"]

    complete, stats = await svc.sync("customers")
    assert complete and stats.failed == 0, stats.failures
    profiles = list(kl.profiles.values())
    assert len(profiles) == len(ct.customers)  # nobody doubled
    linked = kl.profiles[existing_id]
    assert linked["external_id"] == person["id"] and linked["first_name"] == person["firstName"]

    found = explain(svc, "customer", person["id"])
    links = {(link["system"], link["id_kind"]): link["value"] for link in found["links"]}
    assert links[("commercetools", "id")] == person["id"]
    assert links[("klaviyo", "external_id")] == person["id"]
    if stack["mode"] != "bulk":  # bulk import jobs do not report profile ids
        assert links[("klaviyo", "id")] == existing_id
    target = found["targets"]["marketing:customer"]
    assert target["last_delivered"]["payload"]["email"] == person["email"].lower()
    if stack["mode"] == "bulk":
        assert target["match"].startswith("delivered in a bulk import job")
    elif stack["mode"] == "lookup-first":
        # by external_id (nothing), then by e-mail (the existing profile): linked, then updated
        lookups = [r for r in svc.store.log_query(connection="marketing", limit=1000) if r.method == "GET"]
        assert any("email" in r.url for r in lookups)
        assert target["match"].startswith("matched an existing target record"), target["match"]
    else:
        assert target["match"].startswith("matched an existing target record"), target["match"]
        assert [r["status"] for r in found["requests"]] == [200]
    assert found["erased"] is None and found["dead_letters"] == []
    # the source's other ids are in the graph too, and find the record
    assert links[("commercetools", "key")] == person["key"]
    numbered = sorted((c for c in ct.customers.values() if c.get("customerNumber")), key=lambda c: c["key"])[
        0
    ]
    by_number = explain(svc, "customer", numbered["customerNumber"])
    assert by_number["record"] == numbered["id"] and by_number["internal_id"]
    number_links = {(x["system"], x["id_kind"]): x["value"] for x in by_number["links"]}
    assert number_links[("commercetools", "customerNumber")] == numbered["customerNumber"]
    assert explain(svc, "customer", numbered["key"])["internal_id"] == by_number["internal_id"]
