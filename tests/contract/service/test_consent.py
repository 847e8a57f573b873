"""Consent through the real service, connectors and emulators: owned by the shop, commercetools
flags reach Klaviyo subscriptions (backfill with the source's consent time, live unsubscribes, a
list per store); owned by the CRM, a shop-side change never overwrites Klaviyo."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
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

Stack = dict[str, Any]


@pytest.fixture()
async def make_stack(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[tuple[Service, CommercetoolsEmulator, KlaviyoEmulator]] = []

    async def build(consent: dict[str, Any], *, bulk_threshold: int = 5) -> Stack:
        ct = CommercetoolsEmulator("p")
        kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01)
        ct_url, kl_url = await ct.start(), await kl.start()
        for draft in generate_customer_drafts(30, seed=17):
            ct.create_customer(draft)
        cfg = service_config(
            tmp_path / f"s{len(made)}.db",
            ct_url,
            kl_url,
            flow={"bulk_threshold": bulk_threshold, "consent": consent},
        )
        svc = Service(parse_config(cfg))
        made.append((svc, ct, kl))
        return {"ct": ct, "kl": kl, "svc": svc}

    yield build
    for svc, ct, kl in made:
        await svc.aclose()
        await ct.stop()
        await kl.stop()


def profile_of(kl: KlaviyoEmulator, customer_id: str) -> str:
    return next(pid for pid, p in kl.profiles.items() if p.get("external_id") == customer_id)


def email_consent(kl: KlaviyoEmulator, customer_id: str) -> dict[str, Any]:
    return kl.subscriptions_of(profile_of(kl, customer_id))["email"]["marketing"]


def opted(ct: CommercetoolsEmulator, value: bool) -> list[dict[str, Any]]:
    return [
        c
        for c in sorted(ct.customers.values(), key=lambda c: c["id"])
        if (c.get("custom") or {}).get("fields", {}).get("newsletterOptIn") is value
    ]


async def live(svc: Service) -> None:
    flow = svc.flow("customer")
    await poll_once(flow)
    while await process_inbox(flow):
        pass


async def test_shop_owned_consent_backfills_and_unsubscribes(make_stack: Callable[..., Any]) -> None:
    stack = await make_stack({"owner": "shop", "store_lists": True})
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    complete, stats = await svc.sync("customers")
    assert complete and stats.failed == 0, stats.failures
    yes, no = opted(ct, True), opted(ct, False)
    assert yes and no, "the seed must contain both"
    for c in yes:
        consent = email_consent(kl, c["id"])
        assert consent["consent"] == "SUBSCRIBED"
        given = c["custom"]["fields"]["newsletterOptInAt"]
        assert consent["consent_timestamp"][:19] == given[:19]  # the backfill kept the source's time
    for c in no:  # not opted in is not a withdrawal: never subscribed, untouched
        assert email_consent(kl, c["id"])["consent"] == "NEVER_SUBSCRIBED"
    lists = {lst.name: lst for lst in kl.lists.values()}
    store = yes[0]["stores"][0]["key"]
    members = lists[f"{store} newsletter"].members
    assert profile_of(kl, yes[0]["id"]) in members

    # live: a customer unsubscribes in the shop
    person = ct.get_customer(yes[0]["id"])
    assert person is not None
    ct.update_customer(
        person["id"],
        person["version"],
        [
            {"action": "setCustomField", "name": "newsletterOptIn", "value": False},
            {"action": "setCustomField", "name": "newsletterOptInAt", "value": "2026-11-20T10:00:00.000Z"},
        ],
    )
    await live(svc)
    assert email_consent(kl, person["id"])["consent"] == "UNSUBSCRIBED"
    # nothing else moved, and a re-sync sends nothing
    writes = kl.write_count()
    await svc.sync("customers", resume=False)
    assert kl.write_count() == writes


async def test_crm_owned_consent_is_never_overwritten_by_the_shop(make_stack: Callable[..., Any]) -> None:
    stack = await make_stack({"owner": "crm"})
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    await svc.sync("customers")
    no_subscriptions = [
        c for c in ct.customers.values() if email_consent(kl, c["id"])["consent"] != "NEVER_SUBSCRIBED"
    ]
    assert no_subscriptions == []  # the shop's flags were not sent at all
    person = opted(ct, False)[0]
    kl.change_consent(
        profile_of(kl, person["id"]), "email_marketing", "SUBSCRIBED"
    )  # consent given in the CRM
    ct.update_customer(
        person["id"],
        person["version"],
        [{"action": "setCustomField", "name": "newsletterOptIn", "value": True}],
    )
    current = ct.get_customer(person["id"])
    assert current is not None
    ct.update_customer(
        current["id"],
        current["version"],
        [{"action": "setCustomField", "name": "newsletterOptIn", "value": False}],
    )
    await live(svc)
    assert email_consent(kl, person["id"])["consent"] == "SUBSCRIBED"  # the CRM's value stands


async def test_crm_owned_consent_flows_back_to_the_shop_without_echo(make_stack: Callable[..., Any]) -> None:
    """Two-way: a consent change made in Klaviyo reaches the commercetools custom field; the shop's
    resulting change and Klaviyo's resulting update come back and write nothing more."""
    from crmsync.engine.readback import pull_changes

    stack = await make_stack({"owner": "crm"})
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    await svc.sync("customers")
    flow = svc.flow("customer")
    await pull_changes(flow)  # the initial state: every profile is new to the read-back
    await live(svc)
    person = opted(ct, False)[0]
    kl.change_consent(profile_of(kl, person["id"]), "email_marketing", "SUBSCRIBED")

    assert (await pull_changes(flow)).written == 1
    current = ct.get_customer(person["id"])
    assert current is not None and current["custom"]["fields"]["newsletterOptIn"] is True
    given = datetime.fromisoformat(
        email_consent(kl, person["id"])["consent_timestamp"].replace("Z", "+00:00")
    )
    written = datetime.fromisoformat(current["custom"]["fields"]["newsletterOptInAt"].replace("Z", "+00:00"))
    assert abs(written - given) < timedelta(milliseconds=1)  # when it was given, in the shop's format
    ct_version = current["version"]

    await live(svc)  # the shop's change comes back as an event: the profile's mirrored property moves
    assert (await pull_changes(flow)).written == 0  # ... and Klaviyo's update of it writes nothing back
    await live(svc)
    again = ct.get_customer(person["id"])
    assert again is not None and again["version"] == ct_version  # no echo
    assert email_consent(kl, person["id"])["consent"] == "SUBSCRIBED"


async def test_suppressions_in_klaviyo_are_honoured(make_stack: Callable[..., Any]) -> None:
    """The CRM is the enforcement layer: a shop opt-in older than a spam report or unsubscribe in
    Klaviyo does not lift it (bulk subscribe would); an opt-in given after it does."""
    stack = await make_stack({"owner": "shop"})
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    spammer, returning, other = opted(ct, True)[:3]
    # known to Klaviyo before crmsync ran: a spam report of today, an unsubscribe of 2020
    kl.seed_profile(email=spammer["email"], suppressions=["SPAM_COMPLAINT"])
    kl.seed_profile(
        email=returning["email"], suppressions=["UNSUBSCRIBE"], updated_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    complete, stats = await svc.sync("customers")
    assert complete and stats.failed == 0, stats.failures

    held = email_consent(kl, spammer["id"])
    assert held["consent"] != "SUBSCRIBED" and held["can_receive_email_marketing"] is False
    assert [s["reason"] for s in held["suppression"]] == ["SPAM_COMPLAINT"]
    lifted = email_consent(kl, returning["id"])  # the shop's opt-in (2024+) is newer than the unsubscribe
    assert lifted["consent"] == "SUBSCRIBED" and lifted["suppression"] == []
    assert email_consent(kl, other["id"])["consent"] == "SUBSCRIBED"
    [conflict] = svc.store.conflicts_list(record_key=spammer["id"])
    assert (conflict.path, conflict.owner, conflict.other) == (
        "consent.email_marketing",
        "klaviyo",
        "commercetools",
    )
    assert "SPAM_COMPLAINT" in conflict.decision

    writes = kl.write_count()
    await svc.sync("customers", resume=False)  # nothing changed: nothing sent, nothing logged again
    assert kl.write_count() == writes and len(svc.store.conflicts_list(record_key=spammer["id"])) == 1

    # the person opts in again in the shop, after the spam report: that newer consent is sent
    person = ct.get_customer(spammer["id"])
    assert person is not None
    again = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ct.update_customer(
        person["id"],
        person["version"],
        [{"action": "setCustomField", "name": "newsletterOptInAt", "value": again}],
    )
    await live(svc)
    renewed = email_consent(kl, spammer["id"])
    assert renewed["consent"] == "SUBSCRIBED" and renewed["suppression"] == []
