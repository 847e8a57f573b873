"""Orders → Klaviyo events through the real service, connectors and emulators (in-process): the right
metric, time, value and unique_id for every fact, customers' profiles first, guests, several refunds,
idempotent replay, and live changes adding exactly their new events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.commercetools.seed import generate_customer_drafts
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.engine import poll_once, process_inbox
from crmsync.mapping.orders import OrderEventProjector
from crmsync.service import Service

from .support import service_config


@pytest.fixture()
async def stack(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    ct = CommercetoolsEmulator("p")
    kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01)
    ct_url, kl_url = await ct.start(), await kl.start()
    for draft in generate_customer_drafts(40, seed=3):
        ct.create_customer(draft)
    ct.seed_catalog(categories=6, products=12)
    ct.seed_orders(80, seed=5)
    cfg = service_config(tmp_path / "s.db", ct_url, kl_url, flow={"entities": ["customer", "order"]})
    svc = Service(parse_config(cfg))
    try:
        yield {"ct": ct, "kl": kl, "svc": svc}
    finally:
        await svc.aclose()
        await ct.stop()
        await kl.stop()


def klaviyo_events(kl: KlaviyoEmulator) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for e in kl.events:
        key = (e["metric_name"], e["unique_id"])
        assert key not in out, f"duplicate event {key}"
        out[key] = e
    return out


async def expected_events(svc: Service) -> dict[tuple[str, str], dict[str, Any]]:
    flow = svc.flow("order")
    projector = OrderEventProjector()
    out: dict[tuple[str, str], dict[str, Any]] = {}
    async for page in flow.source.read_pages("order"):
        for record in page:
            for event in projector.events(record.data):
                out[(event["metric"], event["unique_id"])] = event
    return out


def same_time(a: str | datetime, b: str | datetime) -> bool:
    """Klaviyo keeps event times to the second."""

    def seconds(t: str | datetime) -> int:
        parsed = t if isinstance(t, datetime) else datetime.fromisoformat(t.replace("Z", "+00:00"))
        return int(parsed.timestamp())

    return seconds(a) == seconds(b)


async def test_backfill_leaves_exactly_the_expected_events_and_replay_adds_nothing(
    stack: dict[str, Any],
) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    complete, stats = await svc.sync("orders")  # customers were never synced: they go first
    assert complete and stats.failed == 0, stats.failures
    want = await expected_events(svc)
    got = klaviyo_events(kl)
    assert set(got) == set(want)
    metrics = {m for m, _ in want}
    assert {
        "Placed Order",
        "Ordered Product",
        "Fulfilled Order",
        "Cancelled Order",
        "Refunded Order",
    } <= metrics
    for key, event in want.items():
        stored = got[key]
        assert stored["value"] == pytest.approx(event["value"]) if event["value"] is not None else True
        assert same_time(stored["time"], event["time"]), (key, stored["time"], event["time"])
    refunds = [k for k in want if k[0] == "Refunded Order"]
    assert len(refunds) >= 1

    # every registered customer's profile came from the customer flow (full attributes) before any event
    log = kl.request_log
    first_event = min(i for i, r in enumerate(log) if r.path.startswith("/api/event"))
    last_profile_write = max(
        i for i, r in enumerate(log) if "profile-bulk-import" in r.path or "profile-import" in r.path
    )
    assert last_profile_write < first_event
    customer_ids = {o.get("customerId") for o in ct.orders.values() if o.get("customerId")}
    profiles = {p.get("external_id"): p for p in kl.profiles.values()}
    assert all(profiles[c].get("first_name") for c in customer_ids)
    guests = [o for o in ct.orders.values() if not o.get("customerId")]
    assert guests, "the seed must contain guest orders"
    for guest in guests[:3]:
        assert kl.find_events(metric="Placed Order", unique_id=guest["id"])

    writes = kl.write_count()
    complete, again = await svc.sync("orders", resume=False)
    assert complete and again.unchanged == len(ct.orders) and again.delivered == 0
    assert kl.write_count() == writes


async def test_live_facts_add_exactly_their_events(stack: dict[str, Any]) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    await svc.sync("customers")
    await svc.sync("orders")
    flow = svc.flow("order")
    await poll_once(flow)
    while await process_inbox(flow):
        pass
    before = klaviyo_events(kl)

    customer = next(iter(ct.customers.values()))
    product = next(iter(ct.products.values()))
    sku = product["masterData"]["current"]["masterVariant"]["sku"]
    cart = ct.create_cart(
        {
            "currency": "EUR",
            "customerId": customer["id"],
            "customerEmail": customer["email"],
            "shippingAddress": {"country": "DE", "city": "Berlin"},
            "lineItems": [{"sku": sku, "quantity": 2}],
        }
    )
    order = ct.order_from_cart(cart["id"], cart["version"])
    payment = ct.create_payment({"amountPlanned": order["totalPrice"]})
    order = ct.update_order(
        order["id"],
        order["version"],
        [
            {"action": "addPayment", "payment": {"typeId": "payment", "id": payment["id"]}},
            {"action": "changeShipmentState", "shipmentState": "Shipped"},
        ],
    )
    for cents in (100, 250):  # two refunds of one order: both count
        payment = ct.update_payment(
            payment["id"],
            payment["version"],
            [
                {
                    "action": "addTransaction",
                    "transaction": {
                        "type": "Refund",
                        "state": "Success",
                        "amount": {"currencyCode": order["totalPrice"]["currencyCode"], "centAmount": cents},
                    },
                }
            ],
        )
    assert await poll_once(flow) > 0
    while await process_inbox(flow):
        pass
    after = klaviyo_events(kl)
    added = {k: v for k, v in after.items() if k not in before}
    assert sorted(m for m, _ in added) == [
        "Fulfilled Order",
        "Ordered Product",
        "Placed Order",
        "Refunded Order",
        "Refunded Order",
    ]
    assert sorted(v["value"] for k, v in added.items() if k[0] == "Refunded Order") == [1.0, 2.5]
    assert all(uid.startswith(order["id"]) for _, uid in added)
    # redelivering everything changes nothing
    writes = kl.write_count()
    await svc.sync("orders", resume=False)
    assert kl.write_count() == writes
