"""Dead letters and the sync log through the real service, connectors and emulators (in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.engine import poll_once, process_inbox
from crmsync.service import Service


@pytest.fixture()
async def stack(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    ct = CommercetoolsEmulator("p")
    kl = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.01)
    ct_url, kl_url = await ct.start(), await kl.start()
    cfg = {
        "store": f"sqlite:///{tmp_path / 's.db'}",
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "p",
                "api_url": ct_url,
                "auth_url": ct_url,
                "client_id": "c",
                "client_secret": "s",
                "poll_overlap_seconds": 1,
            },
            "marketing": {"type": "klaviyo", "api_key": "pk_test", "base_url": kl_url},
        },
        "flows": [{"name": "f", "source": "shop", "target": "marketing"}],
    }
    svc = Service(parse_config(cfg))
    try:
        yield {"ct": ct, "kl": kl, "svc": svc}
    finally:
        await svc.aclose()
        await ct.stop()
        await kl.stop()


def draft(email: str, first: str = "Ada") -> dict[str, Any]:
    return {
        "email": email,
        "password": "x",
        "firstName": first,
        "lastName": "L",
        "addresses": [{"country": "DE", "city": "Berlin"}],
        "defaultBillingAddress": 0,
    }


async def test_bad_record_is_dead_lettered_fixed_and_replayed(stack: dict[str, Any]) -> None:
    ct, kl, svc = stack["ct"], stack["kl"], stack["svc"]
    good = ct.create_customer(draft("good@example.com"))
    bad = ct.create_customer(draft("bad@@example"))
    complete, stats = await svc.sync("customers")
    assert complete and stats.delivered == 1 and stats.failed == 1
    [letter] = svc.dlq_list()
    assert letter.record_key == bad["id"] and letter.field == "email" and letter.recovery == "permanent"
    assert letter.payload["source"]["email"] == "bad@@example"  # the full context is kept
    assert svc.dlq_requests(letter) == []  # refused before any request: nothing was sent

    # replay before the fix: fails again, the letter stays open and counts the attempt
    assert (await svc.dlq_replay([letter.id]))[letter.id].startswith("failed again")
    assert svc.dlq_get(letter.id).attempts == 2 and svc.dlq_get(letter.id).status == "open"

    ct.update_customer(bad["id"], bad["version"], [{"action": "changeEmail", "email": "fixed@example.com"}])
    assert (await svc.dlq_replay([letter.id]))[letter.id] == "replayed: delivered"
    assert svc.dlq_get(letter.id).status == "replayed"
    assert kl.find_profiles(external_id=bad["id"])[0]["email"] == "fixed@example.com"
    assert (await svc.dlq_replay([letter.id]))[letter.id] == "already replayed"
    writes = kl.write_count()
    _, again = await svc.sync("customers", resume=False)
    assert again.unchanged == 2 and kl.write_count() == writes  # the replay left nothing to redo

    entries = svc.log_entries(record=f"customer:{good['id']}")
    assert [(e.method, e.status) for e in entries] == [("POST", 201)]
    assert entries[0].url.endswith("/api/profile-import")


async def test_correlation_id_follows_a_live_change_to_the_klaviyo_call(stack: dict[str, Any]) -> None:
    ct, svc = stack["ct"], stack["svc"]
    c = ct.create_customer(draft("ada@example.com"))
    await svc.sync("customers")
    flow = svc.flow("customer")
    ct.update_customer(c["id"], c["version"], [{"action": "setFirstName", "firstName": "Grace"}])
    message_id = ct.messages[-1]["id"]
    await poll_once(flow)
    await process_inbox(flow)
    entries = svc.log_entries(correlation_id=message_id)
    assert [e.connection for e in entries] == ["marketing"] and entries[0].status == 200
    assert entries[0].record_key == c["id"] and "@" not in entries[0].url
