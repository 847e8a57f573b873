"""GDPR erasure through the real service, connectors and emulators: the Klaviyo deletion job is
requested, the store and the sync log no longer hold the person's e-mail, name, phone or address,
and later events for the person — customer changes, orders, a bulk sync — are refused."""

from __future__ import annotations

import json
import sqlite3
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
    for draft in generate_customer_drafts(12, seed=9):
        ct.create_customer(draft)
    ct.seed_catalog(categories=4, products=6)
    db = tmp_path / "s.db"
    cfg = service_config(
        db,
        ct_url,
        kl_url,
        flow={"entities": ["customer", "order"]},
        marketing={"max_retries": 1},
        log={"pii": "keep"},  # the hardest case: the sync log may hold personal data as sent
    )
    svc = Service(parse_config(cfg))
    try:
        yield {"ct": ct, "kl": kl, "svc": svc, "db": db}
    finally:
        await svc.aclose()
        await ct.stop()
        await kl.stop()


def traces(customer: dict[str, Any], everyone: Any = ()) -> list[str]:
    """What must not survive an erasure: e-mail, id, full name, phones, street addresses — those
    of them that are the person's alone (generated people may share a street or even a name)."""
    others = json.dumps([c for c in everyone if c["id"] != customer["id"]], ensure_ascii=False)
    out = [customer["email"], customer["email"].lower(), customer["id"]]
    out.append(f"{customer.get('firstName')} {customer.get('lastName')}")
    for address in customer.get("addresses") or []:
        for key in ("phone", "mobile"):
            if address.get(key):
                out.append(address[key])
        if address.get("streetName"):
            out.append(f"{address['streetName']}")
    return [t for t in out if t and len(t) > 3 and t not in others]


def store_dump(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))


async def live(svc: Service) -> None:
    for kind in ("customer", "order"):
        flow = svc.flow(kind)
        await poll_once(flow)
        while await process_inbox(flow):
            pass


def place_order(ct: CommercetoolsEmulator, customer: dict[str, Any]) -> dict[str, Any]:
    product = next(iter(ct.products.values()))
    cart = ct.create_cart(
        {
            "currency": "EUR",
            "customerId": customer["id"],
            "customerEmail": customer["email"],
            "shippingAddress": {"country": "DE", "city": "Berlin"},
            "lineItems": [{"sku": product["masterData"]["current"]["masterVariant"]["sku"], "quantity": 1}],
        }
    )
    return ct.order_from_cart(cart["id"], cart["version"])


async def test_erasure_request_purges_everything_and_refuses_the_person_afterwards(
    stack: dict[str, Any],
) -> None:
    ct, kl, svc, db = stack["ct"], stack["kl"], stack["svc"], stack["db"]
    await svc.sync("customers")
    person = sorted(ct.customers.values(), key=lambda c: c["id"])[0]
    place_order(ct, person)
    ct.update_customer(person["id"], person["version"], [{"action": "setLastName", "lastName": "Before"}])
    await live(svc)
    person = ct.get_customer(person["id"])
    assert person is not None
    assert any(
        t in store_dump(db) for t in traces(person, ct.customers.values())
    )  # the store did hold the person
    profile_id = next(pid for pid, p in kl.profiles.items() if p.get("external_id") == person["id"])

    [result] = await svc.erase("customer", record_key=person["id"])
    assert result.targets == {"marketing": "requested"} and result.complete and result.tombstones >= 2
    assert profile_id not in kl.profiles  # the deletion job removed the profile (and its events)
    dump = store_dump(db)
    for trace in traces(person, ct.customers.values()):
        assert trace not in dump, f"{trace!r} survived the erasure"

    # later: a change of the person in the shop, a new order, a full sync — all refused
    ct.update_customer(person["id"], person["version"], [{"action": "setFirstName", "firstName": "Again"}])
    place_order(ct, person)
    await live(svc)
    complete, stats = await svc.sync("customers", resume=False)
    assert complete and stats.refused == 1
    _, orders = await svc.sync("orders", resume=False)
    assert orders.refused >= 1
    assert not [p for p in kl.profiles.values() if p.get("external_id") == person["id"]]
    assert not [p for p in kl.profiles.values() if (p.get("email") or "").lower() == person["email"].lower()]
    for trace in traces(person, ct.customers.values()):
        assert trace not in store_dump(db), f"{trace!r} came back after the erasure"


async def test_a_source_deletion_with_data_erasure_erases_the_person(stack: dict[str, Any]) -> None:
    ct, kl, svc, db = stack["ct"], stack["kl"], stack["svc"], stack["db"]
    await svc.sync("customers")
    await live(svc)
    person = sorted(ct.customers.values(), key=lambda c: c["id"])[1]
    kept = sorted(ct.customers.values(), key=lambda c: c["id"])[2]
    deleted = ct.delete_customer(person["id"], person["version"], data_erasure=True)
    # data erasure is only said by the pushed ResourceDeleted change notification (not by the
    # polled CustomerDeleted message): deliver it as the Subscription would
    notification = {
        "notificationType": "ResourceDeleted",
        "projectKey": "p",
        "resource": {"typeId": "customer", "id": person["id"]},
        "version": deleted["version"] + 1,
        "modifiedAt": "2026-11-23T10:00:00.000Z",
        "dataErasure": True,
    }
    assert await svc.ingest("shop", json.dumps(notification).encode(), {}) == 1
    await live(svc)
    assert not [p for p in kl.profiles.values() if p.get("external_id") == person["id"]]
    assert [p for p in kl.profiles.values() if p.get("external_id") == kept["id"]]  # nobody else
    dump = store_dump(db)
    for trace in traces(person, ct.customers.values()):
        assert trace not in dump, f"{trace!r} survived the erasure"
    assert kept["email"].lower() in dump


async def test_an_erasure_needs_someone_and_a_failing_target_purges_nothing(stack: dict[str, Any]) -> None:
    ct, kl, svc, db = stack["ct"], stack["kl"], stack["svc"], stack["db"]
    from crmsync.emulators.faults import FaultPlan
    from crmsync.engine.erasure import ErasureFailed
    from crmsync.errors import PermanentError

    with pytest.raises(PermanentError):
        await svc.erase("customer")
    await svc.sync("customers")
    person = sorted(ct.customers.values(), key=lambda c: c["id"])[3]
    kl.set_faults(
        FaultPlan(error_rate=1.0, error_statuses=(500,), paths=("/api/data-privacy-deletion-jobs",))
    )
    with pytest.raises(ErasureFailed):
        await svc.erase("customer", record_key=person["id"])
    assert person["email"].lower() in store_dump(db)  # nothing purged: the erasure can run again
    kl.clear_faults()
    [result] = await svc.erase("customer", record_key=person["id"])
    assert result.complete and person["email"].lower() not in store_dump(db)
