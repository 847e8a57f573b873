"""Multi-store through the real service: with ``segmentation.store_lists``, the Klaviyo list of each
commercetools store holds exactly that store's customers — subscribed or not (membership is not
consent) — in bulk and live, and a customer who changes store moves to the other store's list."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.commercetools.seed import generate_customer_drafts
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.engine import poll_once, process_inbox
from crmsync.service import Service

from .support import service_config


@pytest.fixture()
async def stack(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    ct = CommercetoolsEmulator("p")
    kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01)
    ct_url, kl_url = await ct.start(), await kl.start()
    for draft in generate_customer_drafts(40, seed=5):
        ct.create_customer(draft)
    segmentation = {"store_lists": True, "list_name": "{store} customers"}
    cfg = service_config(
        tmp_path / "s.db", ct_url, kl_url, flow={"bulk_threshold": 10, "segmentation": segmentation}
    )
    svc = Service(parse_config(cfg))
    yield {"ct": ct, "kl": kl, "svc": svc}
    await svc.aclose()
    await ct.stop()
    await kl.stop()


def expected(ct: CommercetoolsEmulator) -> dict[str, set[str]]:
    """``{list name: customer ids}`` from the shop's stores."""
    out: dict[str, set[str]] = defaultdict(set)
    for c in ct.customers.values():
        for ref in c.get("stores") or []:
            out[f"{ref['key']} customers"].add(c["id"])
    return dict(out)


def actual(kl: KlaviyoEmulator) -> dict[str, set[str]]:
    return {
        klist.name: {kl.profiles[pid]["external_id"] for pid in klist.members}
        for klist in kl.lists.values()
        if klist.members
    }


async def live(svc: Service) -> None:
    flow = svc.flow("customer")
    await poll_once(flow)
    while await process_inbox(flow):
        pass


async def test_each_store_list_holds_exactly_the_stores_customers(stack: dict[str, Any]) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    complete, stats = await svc.sync("customers")
    assert complete and stats.failed == 0, stats.failures
    want = expected(ct)
    assert len(want) >= 3, "the seed spreads customers over several stores"
    assert actual(kl) == want
    unsubscribed = [
        c
        for c in ct.customers.values()
        if not (c.get("custom") or {}).get("fields", {}).get("newsletterOptIn")
    ]
    assert unsubscribed and any(c["id"] in set().union(*want.values()) for c in unsubscribed)
    for profile in kl.profiles.values():
        assert "$lists" not in (profile.get("properties") or {})
        assert profile["properties"]["store"]  # and the store is a profile property too

    # live: one customer moves to another store, one new customer arrives
    mover = sorted(ct.customers.values(), key=lambda c: c["email"])[0]
    old = mover["stores"][0]["key"]
    new = next(k for k in sorted({n.split(" ")[0] for n in want}) if k != old)
    ct.update_customer(
        mover["id"], mover["version"], [{"action": "setStores", "stores": [{"typeId": "store", "key": new}]}]
    )
    calls = kl.request_count("add_profiles_to_list"), kl.request_count("remove_profiles_from_list")
    await live(svc)
    assert actual(kl) == expected(ct)
    assert mover["id"] in actual(kl)[f"{new} customers"] and mover["id"] not in actual(kl)[f"{old} customers"]
    assert (kl.request_count("add_profiles_to_list"), kl.request_count("remove_profiles_from_list")) == (
        calls[0] + 1,
        calls[1] + 1,
    )
