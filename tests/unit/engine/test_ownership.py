"""Per-attribute ownership (promise 7): whatever the order and duplication of incoming events, the
shop never sends — nor clears — an attribute the CRM owns, and the shop's own attributes converge
on the shop's latest state."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.engine import Flow, poll_once, process_inbox
from crmsync.mapping import load_contract
from crmsync.mapping.segments import OwnershipRules, SegmentationRules, SegmentingProjector
from crmsync.store import StateStore

from .fakes import FakeSource, FakeTarget, customer, event

CRM_OWNED = ["properties.loyaltyTier", "title", "last_name"]


def version_of(cid: str, n: int, first: str, tier: str, title: str, last: str) -> dict[str, Any]:
    rec = customer(cid, first=first, version=n)
    rec.update(
        title=title,
        lastName=last,
        custom={
            "type": {"typeId": "type", "id": "t"},
            "fields": {"loyaltyTier": tier, "newsletter": n % 2 == 0},
        },
    )
    return rec


steps = st.lists(
    st.tuples(
        st.sampled_from(["Ada", "Bo", "Cy"]),
        st.sampled_from(["bronze", "gold"]),
        st.sampled_from(["Dr", "Prof", ""]),
        st.sampled_from(["Lovelace", "Byron"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None)
@given(history=steps, seed=st.integers(0, 10_000), duplicates=st.floats(0, 0.5))
def test_crm_owned_attributes_never_leave_the_shop(
    tmp_path_factory: Any, history: list[tuple[str, str, str, str]], seed: int, duplicates: float
) -> None:
    rng = random.Random(seed)
    db: Path = tmp_path_factory.mktemp("own") / "s.db"
    store = StateStore.open(f"sqlite:///{db}")
    src, tgt = FakeSource(), FakeTarget(bulk=False)
    projector = SegmentingProjector(
        load_contract("default"), SegmentationRules(), ownership=OwnershipRules(crm=CRM_OWNED)
    )
    flow = Flow(name="f", kind="customer", source=src, target=tgt, projector=projector, store=store)
    sent: list[Any] = []
    original = tgt.upsert

    async def recording(item: Any) -> Any:
        sent.append(item)
        return await original(item)

    tgt.upsert = recording  # type: ignore[method-assign]

    versions = [version_of("c1", n + 1, *step) for n, step in enumerate(history)]
    events = [event("c1", v["version"], record=v if rng.random() < 0.5 else None) for v in versions]
    events += [e for e in events if rng.random() < duplicates]  # redelivered
    rng.shuffle(events)  # out of order

    async def run() -> None:
        src.put(versions[-1])  # a re-read returns the current state
        for chunk in (events[: len(events) // 2], events[len(events) // 2 :]):
            src.feed.extend(chunk)
            await poll_once(flow)
            while await process_inbox(flow):
                pass

    asyncio.run(run())
    store.close()
    assert sent, "the shop's own attributes must be delivered"
    for item in sent:
        assert "title" not in item.payload and "last_name" not in item.payload
        assert "loyaltyTier" not in (item.payload.get("properties") or {})
        assert not [p for p in item.clear if p.startswith(tuple(CRM_OWNED))]
    final = tgt.profiles["c1"]
    assert final["first_name"] == versions[-1]["firstName"]  # shop-owned: the latest state wins
    assert final["properties"]["newsletter"] == versions[-1]["custom"]["fields"]["newsletter"]
