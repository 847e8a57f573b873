"""Two-way customer truth between the emulators: per-attribute ownership with read-back.

The flow owns nothing by "last write wins": the loyalty tier (``properties.loyaltyTier``) belongs to
the CRM — Klaviyo's value is polled back (profiles updated since a cursor) and written to the
commercetools custom field, the shop's own value is never sent — and everything else belongs to the
shop: an edit of a shop-owned attribute in Klaviyo is logged as a conflict and reverted. Our own
writes coming back (either way) cause nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.commercetools.seed import generate_customer_drafts
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.engine import poll_once, process_inbox
from crmsync.engine.ownership import KEPT_OWNER_WROTE_BACK, RESTORED
from crmsync.engine.readback import pull_changes
from crmsync.service import Service

from .support import service_config

TIER = "properties.loyaltyTier"
OWNERSHIP = {"crm": [TIER], "two_way": True, "write_back": {TIER: "loyaltyTier"}}


@pytest.fixture()
async def stack(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    ct = CommercetoolsEmulator("p")
    kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01)
    ct_url, kl_url = await ct.start(), await kl.start()
    for draft in generate_customer_drafts(20, seed=23):
        ct.create_customer(draft)
    cfg = service_config(
        tmp_path / "s.db", ct_url, kl_url, flow={"bulk_threshold": 5, "ownership": OWNERSHIP}
    )
    svc = Service(parse_config(cfg))
    complete, stats = await svc.sync("customers")
    assert complete and stats.failed == 0, stats.failures
    await pull_changes(svc.flow("customer"))  # the initial state: every profile is new to the read-back
    yield {"ct": ct, "kl": kl, "svc": svc}
    await svc.aclose()
    await ct.stop()
    await kl.stop()


async def live(svc: Service) -> None:
    flow = svc.flow("customer")
    await poll_once(flow)
    while await process_inbox(flow):
        pass


def profile_of(kl: KlaviyoEmulator, customer_id: str) -> tuple[str, dict[str, Any]]:
    return next((pid, p) for pid, p in kl.profiles.items() if p.get("external_id") == customer_id)


def customer(ct: CommercetoolsEmulator, customer_id: str) -> dict[str, Any]:
    found = ct.get_customer(customer_id)
    assert found is not None
    return found


def someone(ct: CommercetoolsEmulator, *, typed: bool = True) -> dict[str, Any]:
    """A customer with (or without) a custom type, the same one every run (ids are random)."""
    people = sorted(ct.customers.values(), key=lambda c: c["email"])
    return next(c for c in people if bool(c.get("custom")) is typed)


async def test_the_shop_never_sends_what_the_crm_owns(stack: dict[str, Any]) -> None:
    ct, kl = stack["ct"], stack["kl"]
    with_tier = [
        c for c in ct.customers.values() if (c.get("custom") or {}).get("fields", {}).get("loyaltyTier")
    ]
    assert with_tier, "the seed gives customers a loyalty tier"
    for person in with_tier:
        _, profile = profile_of(kl, person["id"])
        assert "loyaltyTier" not in (profile.get("properties") or {})
        # ... and the CRM's "no value" was not written back over the shop's tier
        assert (
            customer(ct, person["id"])["custom"]["fields"]["loyaltyTier"]
            == person["custom"]["fields"]["loyaltyTier"]
        )


async def test_a_crm_owned_value_flows_back_to_the_shop_without_echo(stack: dict[str, Any]) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    flow = svc.flow("customer")
    person = someone(ct)
    pid, _ = profile_of(kl, person["id"])
    kl.edit_profile(pid, properties={"loyaltyTier": "platinum"})

    pulled = await pull_changes(flow)
    assert (pulled.written, pulled.conflicts, pulled.restored) == (1, 0, 0)
    shop = customer(ct, person["id"])
    assert shop["custom"]["fields"]["loyaltyTier"] == "platinum"
    version = shop["version"]
    writes = kl.write_count()

    await live(svc)  # the shop's change comes back as an event: the tier is withheld, nothing to send
    assert kl.write_count() == writes
    again = await pull_changes(flow)
    assert (again.written, again.conflicts, again.restored) == (0, 0, 0)
    assert customer(ct, person["id"])["version"] == version  # no echo either way
    assert svc.store.conflicts_list(record_key=person["id"]) == []

    internal = svc.store.resolve("customer", "commercetools", "id", person["id"])
    assert internal is not None
    recorded = svc.store.provenance_of([internal])[internal]
    assert recorded[f"klaviyo:{TIER}"].value == "platinum"
    assert recorded[f"klaviyo:{TIER}"].source_at is not None
    assert recorded[f"commercetools:{TIER}"].value == "platinum"  # the shop now says the same


async def test_a_shop_change_to_a_crm_owned_value_is_a_logged_conflict(stack: dict[str, Any]) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    flow = svc.flow("customer")
    person = someone(ct)
    pid, _ = profile_of(kl, person["id"])
    kl.edit_profile(pid, properties={"loyaltyTier": "gold"})
    await pull_changes(flow)
    await live(svc)

    shop = customer(ct, person["id"])
    ct.update_customer(
        person["id"],
        shop["version"],
        [{"action": "setCustomField", "name": "loyaltyTier", "value": "bronze"}],
    )
    writes = kl.write_count()
    await live(svc)
    assert kl.write_count() == writes  # the shop's value is not sent
    assert kl.profiles[pid]["properties"]["loyaltyTier"] == "gold"
    [conflict] = svc.store.conflicts_list(record_key=person["id"])
    assert (conflict.path, conflict.owner, conflict.owner_value) == (TIER, "klaviyo", "gold")
    assert (conflict.other, conflict.other_value, conflict.decision) == (
        "commercetools",
        "bronze",
        KEPT_OWNER_WROTE_BACK,
    )
    # the owner's value was written back to the shop at once: it stands there too
    assert customer(ct, person["id"])["custom"]["fields"]["loyaltyTier"] == "gold"

    writes = kl.write_count()
    await live(svc)  # the shop's event for that write-back: no conflict, nothing sent
    await svc.sync("customers", resume=False)
    assert len(svc.store.conflicts_list(record_key=person["id"])) == 1
    assert kl.write_count() == writes


async def test_a_crm_edit_of_a_shop_owned_attribute_is_reverted(stack: dict[str, Any]) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    flow = svc.flow("customer")
    person = someone(ct)
    pid, profile = profile_of(kl, person["id"])
    original = profile["first_name"]
    assert original == person["firstName"]

    kl.edit_profile(pid, first_name="Mallory")
    pulled = await pull_changes(flow)
    assert (pulled.conflicts, pulled.restored) == (1, 1)  # queued in the inbox ...
    assert kl.profiles[pid]["first_name"] == "Mallory"
    await live(svc)  # ... and re-sent by the live sync
    assert kl.profiles[pid]["first_name"] == original
    [conflict] = svc.store.conflicts_list(record_key=person["id"])
    assert (conflict.path, conflict.owner, conflict.owner_value) == ("first_name", "commercetools", original)
    assert (conflict.other, conflict.other_value, conflict.decision) == ("klaviyo", "Mallory", RESTORED)

    quiet = await pull_changes(flow)  # the restoring write comes back: our own, no conflict
    assert (quiet.conflicts, quiet.restored) == (0, 0)

    kl.edit_profile(pid, first_name="Mallory")  # the same edit once more is judged again
    assert (await pull_changes(flow)).restored == 1
    await live(svc)
    assert kl.profiles[pid]["first_name"] == original
    assert len(svc.store.conflicts_list(record_key=person["id"])) == 2
    assert customer(ct, person["id"])["firstName"] == original  # the shop was never touched


async def test_erasure_removes_provenance_and_conflicts(stack: dict[str, Any]) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    person = someone(ct)
    pid, _ = profile_of(kl, person["id"])
    kl.edit_profile(pid, first_name="Mallory", properties={"loyaltyTier": "gold"})
    await pull_changes(svc.flow("customer"))
    internal = svc.store.resolve("customer", "commercetools", "id", person["id"])
    assert internal is not None and svc.store.provenance_of([internal])
    assert svc.store.conflicts_list(record_key=person["id"])

    await svc.erase("customer", record_key=person["id"])
    assert svc.store.provenance_of([internal]) == {}
    assert svc.store.conflicts_list(record_key=person["id"]) == []


async def test_a_shop_record_without_custom_fields_gets_the_configured_type(tmp_path: Path) -> None:
    """Write-back to a customer without a custom type: refused with a clear reason (the rest of the
    poll goes on) until the connection names the type to give it."""
    ct = CommercetoolsEmulator("p")
    kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01)
    ct_url, kl_url = await ct.start(), await kl.start()
    try:
        for draft in generate_customer_drafts(20, seed=23):
            ct.create_customer(draft)
        bare, typed = someone(ct, typed=False), someone(ct)
        for shop, attempt, bare_tier in ((None, 0, "gold"), ("customer-profile", 1, "platinum")):
            cfg = service_config(
                tmp_path / f"s{attempt}.db",
                ct_url,
                kl_url,
                flow={"bulk_threshold": 5, "ownership": OWNERSHIP},
                shop={"customer_type_key": shop} if shop else None,
            )
            svc = Service(parse_config(cfg))
            try:
                await svc.sync("customers")
                flow = svc.flow("customer")
                await pull_changes(flow)
                now = customer(ct, typed["id"])["custom"]["fields"].get("loyaltyTier")
                tier = next(t for t in ("silver", "platinum", "gold") if t != now)
                kl.edit_profile(profile_of(kl, bare["id"])[0], properties={"loyaltyTier": bare_tier})
                kl.edit_profile(profile_of(kl, typed["id"])[0], properties={"loyaltyTier": tier})
                pulled = await pull_changes(flow)
            finally:
                await svc.aclose()
            assert customer(ct, typed["id"])["custom"]["fields"]["loyaltyTier"] == tier
            if shop is None:
                assert (pulled.written, pulled.failed) == (1, 1)
                assert not customer(ct, bare["id"]).get("custom")
            else:
                assert (pulled.written, pulled.failed) == (2, 0)
                custom = customer(ct, bare["id"])["custom"]
                assert custom["type"]["id"] and custom["fields"] == {"loyaltyTier": "platinum"}
    finally:
        await ct.stop()
        await kl.stop()


async def test_explain_shows_provenance_and_conflicts(stack: dict[str, Any]) -> None:
    from crmsync.explain import explain

    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    person = someone(ct)
    pid, _ = profile_of(kl, person["id"])
    kl.edit_profile(pid, first_name="Mallory", properties={"loyaltyTier": "gold"})
    await pull_changes(svc.flow("customer"))
    await live(svc)  # the restore, and the shop's event for the written-back tier

    found = explain(svc, "customer", person["id"])
    [target] = found["targets"].values()
    rows = {row["path"]: row for row in target["attributes"]}
    tier, first = rows[TIER], rows["first_name"]
    assert tier["owner"] == "klaviyo" and tier["values"]["klaviyo"]["value"] == "gold"
    assert tier["values"]["klaviyo"]["at"] is not None
    # the restore re-read the shop after the write-back: the shop now says what the CRM says
    assert tier["values"]["commercetools"]["value"] == "gold"
    assert customer(ct, person["id"])["custom"]["fields"]["loyaltyTier"] == "gold"
    assert first["owner"] == "commercetools"
    assert first["values"]["commercetools"]["value"] == person["firstName"]
    assert first["values"]["commercetools"]["version"] == customer(ct, person["id"])["version"]
    assert first["values"]["klaviyo"]["value"] == person["firstName"]  # what the CRM holds after the restore
    [conflict] = found["conflicts"]  # ... and what it said before
    assert (conflict["path"], conflict["other_value"], conflict["decision"]) == (
        "first_name",
        "Mallory",
        RESTORED,
    )


async def test_the_running_service_reads_back_and_restores(stack: dict[str, Any]) -> None:
    """``crmsync run``'s loop: the read-back runs beside the live sync, on the flow's poll interval."""
    import asyncio

    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    person = someone(ct)
    pid, profile = profile_of(kl, person["id"])
    assert person["custom"]["fields"].get("loyaltyTier") != "platinum"
    stop = asyncio.Event()
    runner = asyncio.create_task(svc.run_live(stop))
    try:
        kl.edit_profile(pid, first_name="Mallory", properties={"loyaltyTier": "platinum"})
        for _ in range(200):
            await asyncio.sleep(0.05)
            shop = customer(ct, person["id"])
            if kl.profiles[pid]["first_name"] == profile["first_name"] and (
                shop["custom"]["fields"].get("loyaltyTier") == "platinum"
            ):
                break
        assert kl.profiles[pid]["first_name"] == profile["first_name"]  # restored
        assert customer(ct, person["id"])["custom"]["fields"]["loyaltyTier"] == "platinum"  # written back
    finally:
        stop.set()
        await asyncio.wait_for(runner, timeout=10)
    assert [c.path for c in svc.store.conflicts_list(record_key=person["id"])] == ["first_name"]
