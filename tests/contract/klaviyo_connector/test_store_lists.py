"""Per-store lists against the emulator: each store's list holds exactly that store's customers.

Single upserts and bulk import jobs alike; a customer whose store changes is moved; membership never
touches consent; the remove body validates against the spec's ``ListMembersDeleteQuery``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector, KlaviyoSettings
from crmsync.connectors.klaviyo.client import KlaviyoClient
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.ports import LISTS, Projection
from tests.contract.klaviyo_connector import spec as specs
from tests.contract.klaviyo_connector.support import API_KEY
from tests.unit.klaviyo_connector.fake_klaviyo import FakeKlaviyo, Reply, profile_body


def _customer(n: int, stores: list[str], previous: list[str] | None = None) -> Projection:
    payload: dict[str, Any] = {"external_id": f"cust-{n}", "email": f"customer{n}@example.com"}
    if stores:
        payload[LISTS] = stores
        payload["properties"] = {"store": stores[0]}
    before = None if previous is None else {"external_id": f"cust-{n}", LISTS: previous}
    return Projection("customer", f"cust-{n}", payload, correlation_id=f"corr-{n}", previous=before)


def _members(emulator: KlaviyoEmulator, name: str) -> set[str]:
    """The profile ids in the one list called ``name`` (fails if there are several)."""
    [klist] = [k for k in emulator.lists.values() if k.name == name]
    return set(klist.members)


def _profile_id(emulator: KlaviyoEmulator, n: int) -> str:
    [profile] = emulator.find_profiles(external_id=f"cust-{n}")
    return str(profile["id"])


async def _members_over_http(connector: KlaviyoConnector, emulator: KlaviyoEmulator, name: str) -> set[str]:
    """The same membership read back through ``GET /api/lists/{id}/relationships/profiles``."""
    [list_id] = [k.id for k in emulator.lists.values() if k.name == name]
    response = await connector.client.request(
        "GET", f"/api/lists/{list_id}/relationships/profiles", operation="get_profile_ids_for_list"
    )
    return {entry["id"] for entry in (response.body or {})["data"]}


async def test_single_upserts_put_each_customer_in_their_stores_lists(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    connector = connect()
    customers = [
        _customer(1, ["eu-store"]),
        _customer(2, ["eu-store", "us-store"]),
        _customer(3, ["us-store"]),
    ]
    customers.append(_customer(4, []))
    for customer in customers:
        result = await connector.upsert(customer)
        assert result.ok and result.target_id, result.error
    ids = {n: _profile_id(emulator, n) for n in (1, 2, 3, 4)}
    assert _members(emulator, "eu-store") == {ids[1], ids[2]}
    assert _members(emulator, "us-store") == {ids[2], ids[3]}
    assert await _members_over_http(connector, emulator, "eu-store") == {ids[1], ids[2]}
    assert len(emulator.lists) == 2
    assert emulator.request_count(operation_id="create_list", status=201) == 2  # each list created once
    for pid in ids.values():
        profile = emulator.profiles[pid]
        assert LISTS not in profile["properties"]
        assert profile["subscriptions"]["email_marketing"] == "NEVER_SUBSCRIBED"  # not consent
    assert emulator.profiles[ids[1]]["properties"] == {"store": "eu-store"}


async def test_an_initial_bulk_load_fills_the_store_lists_through_the_jobs(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    connector = connect()
    stores = ["eu-store", "us-store", "eu-store", "eu-store", "us-store", "eu-store"]
    customers = [_customer(n, [store]) for n, store in enumerate(stores)]
    results = await connector.bulk_upsert(customers)
    assert all(r.ok for r in results), [r.error for r in results]
    ids = {n: _profile_id(emulator, n) for n in range(len(stores))}
    assert _members(emulator, "eu-store") == {ids[n] for n, s in enumerate(stores) if s == "eu-store"}
    assert _members(emulator, "us-store") == {ids[n] for n, s in enumerate(stores) if s == "us-store"}
    # one job per store list, carrying the list: no profile ids read, no membership call
    assert emulator.request_count(operation_id="bulk_import_profiles", status=202) == 2
    assert emulator.request_count(operation_id="add_profiles_to_list") == 0
    assert emulator.request_count(operation_id="get_profiles_for_bulk_import_profiles_job") == 0
    assert all(LISTS not in emulator.profiles[pid]["properties"] for pid in ids.values())


async def test_bulk_joins_after_the_job_make_one_call_per_list(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    """Customers in two stores each: joined after the job, one membership call per list."""
    connector = connect()
    customers = [
        _customer(n, ["eu-store", "us-store"] if n % 2 else ["us-store", "eu-store"]) for n in range(6)
    ]
    results = await connector.bulk_upsert(customers)
    assert all(r.ok for r in results), [r.error for r in results]
    ids = {n: _profile_id(emulator, n) for n in range(6)}
    assert [r.target_id for r in results] == [ids[n] for n in range(6)]
    assert _members(emulator, "eu-store") == _members(emulator, "us-store") == set(ids.values())
    assert emulator.request_count(operation_id="add_profiles_to_list", status=204) == 2
    assert emulator.request_count(operation_id="bulk_import_profiles", status=202) == 1


async def test_a_customer_whose_store_changes_is_moved(
    emulator: KlaviyoEmulator, connect: Callable[..., KlaviyoConnector]
) -> None:
    connector = connect()
    # single: eu -> us
    assert (await connector.upsert(_customer(1, ["eu-store"]))).ok
    assert (await connector.upsert(_customer(2, ["eu-store"]))).ok
    assert (await connector.upsert(_customer(4, ["eu-store"]))).ok
    moved = await connector.upsert(_customer(1, ["us-store"], previous=["eu-store"]))
    assert moved.ok, moved.error
    one, two, four = (_profile_id(emulator, n) for n in (1, 2, 4))
    assert _members(emulator, "eu-store") == {two, four} and _members(emulator, "us-store") == {one}
    assert emulator.request_count(operation_id="remove_profiles_from_list", status=204) == 1

    # bulk, with a fresh connector (nothing cached): two move, one joins; one leaves every store
    results = await connect().bulk_upsert(
        [
            _customer(2, ["us-store"], previous=["eu-store"]),
            _customer(1, ["fr-store"], previous=["us-store"]),
            _customer(3, ["eu-store"]),
            _customer(4, [], previous=["eu-store"]),  # its list membership is all that changed
        ]
    )
    assert all(r.ok for r in results), [r.error for r in results]
    three = _profile_id(emulator, 3)
    assert _members(emulator, "eu-store") == {three}
    assert _members(emulator, "us-store") == {two}
    assert _members(emulator, "fr-store") == {one}
    assert four not in set().union(*(set(k.members) for k in emulator.lists.values()))
    assert len([k for k in emulator.lists.values() if k.name == "eu-store"]) == 1  # found, not re-created
    assert emulator.request_count(operation_id="remove_profiles_from_list", status=204) == 3


@pytest.mark.specs
async def test_remove_body_matches_the_spec(specs_dir: Path) -> None:
    spec = specs.load_spec(specs_dir / "klaviyo" / "openapi-stable.json")
    fake = FakeKlaviyo()
    base_url = await fake.start()
    settings = KlaviyoSettings(api_key=API_KEY, base_url=base_url)
    connector = KlaviyoConnector("kl", settings, client=KlaviyoClient(settings, connection="kl"))
    try:
        fake.on("POST", "/api/profile-import", Reply(200, profile_body("P1")))
        fake.on("GET", "/api/lists", Reply(200, {"data": [{"type": "list", "id": "L1"}]}))
        fake.on("DELETE", "/api/lists/L1/relationships/profiles", Reply(204))
        result = await connector.upsert(_customer(1, [], previous=["eu-store"]))
        assert result.ok, result.error
        [sent] = fake.sent("DELETE", "/api/lists/L1/relationships/profiles")
        assert sent.json() == {"data": [{"type": "profile", "id": "P1"}]}
        method, path, _ = specs.operation(spec, "remove_profiles_from_list")
        assert (method, path) == ("DELETE", "/api/lists/{id}/relationships/profiles")
        assert specs.errors(spec, "remove_profiles_from_list", sent.json()) == []
    finally:
        await connector.aclose()
        await fake.stop()


@pytest.mark.specs
def test_a_job_carrying_a_list_matches_the_spec(specs_dir: Path) -> None:
    from crmsync.connectors.klaviyo.packing import pack_jobs

    spec = specs.load_spec(specs_dir / "klaviyo" / "openapi-stable.json")
    [job], rejected = pack_jobs([_customer(n, ["eu-store"]) for n in range(3)], list_id="L1")
    body = orjson.loads(job.body())
    assert not rejected and len(job.body()) == job.size
    assert body["data"]["relationships"] == {"lists": {"data": [{"type": "list", "id": "L1"}]}}
    assert specs.errors(spec, "bulk_import_profiles", body) == []
