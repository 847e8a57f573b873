"""Two-way ownership as a property (hypothesis): whatever the interleaving of shop changes (events
duplicated and out of order), CRM edits and read-back polls, once everything settles

* the CRM-owned attribute holds the CRM's last value, at the CRM and (written back) in the shop;
* the shop-owned attributes at the CRM hold the shop's latest values (CRM edits reverted);
* nothing echoes: a settled system stays quiet — another round of polls writes nothing either way.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.engine import Flow, poll_once, process_inbox
from crmsync.engine.flow import TwoWay
from crmsync.engine.readback import pull_changes
from crmsync.errors import TransientError
from crmsync.mapping import load_contract
from crmsync.mapping.segments import OwnershipRules, SegmentationRules, SegmentingProjector
from crmsync.ports import DeliveryResult, Projection
from crmsync.store import StateStore

from .fakes import FakeSource, FakeTarget, customer, event

TIER = "properties.loyaltyTier"


class WritableShop(FakeSource):
    """A shop that takes custom fields back; each write is a new version with its change event."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def change(self, cid: str, **fields: Any) -> dict[str, Any]:
        old = self.records[cid]
        new = {**old, **fields, "version": old["version"] + 1}
        self.put(new)
        self.feed.append(event(cid, new["version"], record=new if len(self.feed) % 2 else None))
        return new

    async def set_custom_fields(self, record_id: str, fields: Mapping[str, Any]) -> bool:
        rec = self.records[record_id]
        current = rec["custom"]["fields"]
        if all(current.get(k) == v for k, v in fields.items()):
            return False
        self.writes += 1
        self.change(record_id, custom={**rec["custom"], "fields": {**current, **fields}})
        return True


class TwoWayCrm(FakeTarget):
    """Profiles merged like Klaviyo's PATCH (properties key by key) and polled by a change counter."""

    def __init__(self) -> None:
        super().__init__(bulk=False)
        self.log: list[str] = []  # record keys in the order their profiles changed
        self.updated: dict[str, datetime] = {}

    def _touch(self, key: str) -> None:
        self.log.append(key)
        self.updated[key] = datetime.now(UTC)

    def _apply(self, item: Projection) -> DeliveryResult:
        profile = self.profiles.setdefault(item.record_key, {})
        before = repr(profile)
        for name, value in item.payload.items():
            if name == "properties":
                profile["properties"] = {**profile.get("properties", {}), **value}
            else:
                profile[name] = value
        if repr(profile) != before:
            self._touch(item.record_key)
        return DeliveryResult(item.record_key, ok=True, target_id=f"P-{item.record_key}")

    def edit(self, key: str, **attrs: Any) -> None:
        profile = self.profiles[key]
        for name, value in attrs.items():
            if name == "properties":
                profile["properties"] = {**profile.get("properties", {}), **value}
            else:
                profile[name] = value
        self._touch(key)

    async def profile_changes(self, cursor: str | None) -> tuple[list[dict[str, Any]], str]:
        start = int(cursor or 0)
        keys = list(dict.fromkeys(self.log[start:]))
        changes = [
            {
                "external_id": key,
                "attributes": self.profiles[key],
                "updated": self.updated[key],
                "consent": {},
            }
            for key in keys
        ]
        return changes, str(len(self.log))


names = st.sampled_from(["Ada", "Bo", "Cy"])
tiers = st.sampled_from(["bronze", "silver", "gold"])
actions = st.lists(
    st.one_of(
        st.tuples(st.just("shop_name"), names),
        st.tuples(st.just("shop_tier"), tiers),
        st.tuples(st.just("crm_name"), st.sampled_from(["Mallory", "Eve"])),
        st.tuples(st.just("crm_tier"), tiers),
        st.tuples(st.just("sync"), st.just("")),
        st.tuples(st.just("pull"), st.just("")),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=30, deadline=None)
@given(script=actions, seed=st.integers(0, 10_000))
def test_two_way_ownership_converges_without_echo(
    tmp_path_factory: Any, script: list[tuple[str, str]], seed: int
) -> None:
    rng = random.Random(seed)
    db: Path = tmp_path_factory.mktemp("twoway") / "s.db"
    store = StateStore.open(f"sqlite:///{db}")
    shop, crm = WritableShop(), TwoWayCrm()
    ownership = OwnershipRules(crm=[TIER], two_way=True, write_back={TIER: "loyaltyTier"})
    projector = SegmentingProjector(load_contract("default"), SegmentationRules(), ownership=ownership)
    flow = Flow(
        name="f",
        kind="customer",
        source=shop,
        target=crm,
        projector=projector,
        store=store,
        two_way=TwoWay(crm_paths=(TIER,), write_back={TIER: "loyaltyTier"}, restore=True),
    )
    first = customer("c1", first="Ada")
    first["custom"] = {"type": {"typeId": "type", "id": "t"}, "fields": {"loyaltyTier": "bronze"}}
    shop.put(first)
    crm_tier: str | None = None

    async def sync() -> None:
        shop.feed.extend(e for e in list(shop.feed) if rng.random() < 0.2)  # redelivered events
        await poll_once(flow)
        while await process_inbox(flow):
            pass

    async def run() -> None:
        nonlocal crm_tier
        shop.feed.append(event("c1", 1, record=first))
        await sync()
        for action, value in script:
            rec = shop.records["c1"]
            if action == "shop_name":
                shop.change("c1", firstName=value)
            elif action == "shop_tier":
                fields = {**rec["custom"]["fields"], "loyaltyTier": value}
                shop.change("c1", custom={**rec["custom"], "fields": fields})
            elif action == "crm_name":
                crm.edit("c1", first_name=value)
            elif action == "crm_tier":
                crm.edit("c1", properties={"loyaltyTier": value})
                crm_tier = value
            elif action == "sync":
                await sync()
            else:
                await pull_changes(flow)
        for _ in range(3):  # settle: shop events, CRM changes, the shop's events those caused
            await sync()
            await pull_changes(flow)
        await sync()
        # settled: one more round writes nothing in either direction
        writes, changes = shop.writes, len(crm.log)
        await pull_changes(flow)
        await sync()
        await pull_changes(flow)
        assert (shop.writes, len(crm.log)) == (writes, changes), "an echo"

    asyncio.run(run())
    profile = crm.profiles["c1"]
    latest = shop.records["c1"]
    assert profile["first_name"] == latest["firstName"]  # shop-owned: the shop's latest value
    if crm_tier is not None:  # CRM-owned: the CRM's last value, at the CRM and back in the shop
        assert profile["properties"]["loyaltyTier"] == crm_tier
        assert latest["custom"]["fields"]["loyaltyTier"] == crm_tier
    else:  # the CRM never said anything: the shop's value was never sent
        assert "loyaltyTier" not in profile.get("properties", {})
    for conflict in store.conflicts_list(record_key="c1"):
        owner = "klaviyo" if conflict.path == TIER else "commercetools"
        assert conflict.owner == owner and conflict.other != owner
    store.close()


class NormalisingCrm(TwoWayCrm):
    """A CRM that keeps first names in its own form (upper case), whatever it is sent."""

    def _apply(self, item: Projection) -> DeliveryResult:
        result = super()._apply(item)
        profile = self.profiles[item.record_key]
        if profile.get("first_name") and profile["first_name"] != profile["first_name"].upper():
            profile["first_name"] = profile["first_name"].upper()
        return result


def test_a_target_that_normalises_a_value_is_restored_three_times_then_left_alone(tmp_path: Path) -> None:
    from crmsync.engine.ownership import RESTORED
    from crmsync.engine.readback import GAVE_UP, GIVE_UP_AFTER

    store = StateStore.open(f"sqlite:///{tmp_path / 's.db'}")
    shop, crm = WritableShop(), NormalisingCrm()
    flow = Flow(
        name="f",
        kind="customer",
        source=shop,
        target=crm,
        projector=SegmentingProjector(load_contract("default"), SegmentationRules()),
        store=store,
        two_way=TwoWay(restore=True),
    )
    shop.put(customer("c1", first="Ada"))
    shop.feed.append(event("c1", 1, record=shop.records["c1"]))

    async def settle() -> None:
        await poll_once(flow)
        while await process_inbox(flow):
            pass

    async def run() -> list[int]:
        await settle()
        restored = []
        for _ in range(GIVE_UP_AFTER + 3):
            restored.append((await pull_changes(flow)).restored)
            await settle()  # the queued restore is delivered (and upper-cased again by the CRM)
        return restored

    restored = asyncio.run(run())
    assert restored == [1] * GIVE_UP_AFTER + [0, 0, 0]
    decisions = [c.decision for c in reversed(store.conflicts_list(record_key="c1"))]
    assert decisions == [RESTORED] * GIVE_UP_AFTER + [GAVE_UP]
    assert crm.profiles["c1"]["first_name"] == "ADA"
    store.close()


class FlakyShop(WritableShop):
    """Refuses the first write-back with a 503, then takes them."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def set_custom_fields(self, record_id: str, fields: Mapping[str, Any]) -> bool:
        if self.failures:
            self.failures -= 1
            raise TransientError("503 from the shop")
        return await super().set_custom_fields(record_id, fields)


def test_a_failed_write_back_keeps_the_cursor_and_is_done_on_the_next_poll(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 's.db'}")
    shop, crm = FlakyShop(), TwoWayCrm()
    ownership = OwnershipRules(crm=[TIER], two_way=True, write_back={TIER: "loyaltyTier"})
    flow = Flow(
        name="f",
        kind="customer",
        source=shop,
        target=crm,
        projector=SegmentingProjector(load_contract("default"), SegmentationRules(), ownership=ownership),
        store=store,
        two_way=TwoWay(crm_paths=(TIER,), write_back={TIER: "loyaltyTier"}),
    )
    first = customer("c1")
    first["custom"] = {"type": {"typeId": "type", "id": "t"}, "fields": {"loyaltyTier": "bronze"}}
    shop.put(first)
    shop.feed.append(event("c1", 1, record=first))

    async def run() -> None:
        await poll_once(flow)
        while await process_inbox(flow):
            pass
        await pull_changes(flow)
        crm.edit("c1", properties={"loyaltyTier": "gold"})
        cursor = store.get_checkpoint("consent-readback:f")
        with pytest.raises(TransientError):
            await pull_changes(flow)
        assert store.get_checkpoint("consent-readback:f") == cursor  # the poll will be made again
        assert (await pull_changes(flow)).written == 1

    asyncio.run(run())
    assert shop.records["c1"]["custom"]["fields"]["loyaltyTier"] == "gold"
    store.close()


class PagedCrm(TwoWayCrm):
    """Reports at most 100 changed profiles per poll, like Klaviyo's pages; counts its polls."""

    def __init__(self) -> None:
        super().__init__()
        self.polls = 0

    async def profile_changes(self, cursor: str | None) -> tuple[list[dict[str, Any]], str]:
        self.polls += 1
        start = int(cursor or 0)
        end = min(len(self.log), start + 100)
        keys = list(dict.fromkeys(self.log[start:end]))
        changes = [
            {"external_id": k, "attributes": self.profiles[k], "updated": self.updated[k], "consent": {}}
            for k in keys
        ]
        return changes, str(end)


def test_the_read_back_loop_drains_a_backlog_and_runs_on_one_worker(tmp_path: Path) -> None:
    from crmsync.engine.readback import run_readback

    store = StateStore.open(f"sqlite:///{tmp_path / 's.db'}")
    shop, crm = WritableShop(), PagedCrm()
    ownership = OwnershipRules(crm=[TIER], two_way=True, write_back={TIER: "loyaltyTier"})

    def worker() -> Flow:
        return Flow(
            name="f",
            kind="customer",
            source=shop,
            target=crm,
            projector=SegmentingProjector(load_contract("default"), SegmentationRules(), ownership=ownership),
            store=store,
            two_way=TwoWay(crm_paths=(TIER,), write_back={TIER: "loyaltyTier"}),
        )

    one, two = worker(), worker()
    for n in range(250):
        rec = customer(f"c{n:03d}")
        rec["custom"] = {"type": {"typeId": "type", "id": "t"}, "fields": {"loyaltyTier": "bronze"}}
        shop.put(rec)
        shop.feed.append(event(rec["id"], 1, record=rec))

    async def run() -> float:
        await poll_once(one)
        while await process_inbox(one):
            pass
        for n in range(250):
            crm.edit(f"c{n:03d}", properties={"loyaltyTier": "gold"})
        stop = asyncio.Event()
        started = asyncio.get_running_loop().time()
        tasks = [asyncio.create_task(run_readback(f, stop, interval=30)) for f in (one, two)]
        for _ in range(1000):  # up to 10 s
            if shop.writes >= 250:
                break
            await asyncio.sleep(0.01)
        took = asyncio.get_running_loop().time() - started
        stop.set()
        await asyncio.gather(*tasks)
        return took

    took = asyncio.run(run())
    assert shop.writes == 250
    assert took < 10  # three pages one after another, not one page per 30 s interval
    # one poller at a time: 250 initial profiles + 250 edits = 5 pages and the empty poll, no more
    assert crm.polls <= 7
    store.close()
