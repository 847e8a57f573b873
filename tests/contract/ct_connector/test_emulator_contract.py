"""The commercetools connector against the commercetools emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from yarl import URL

from crmsync.connectors.commercetools import CommercetoolsConnector, create
from crmsync.emulators.commercetools import CommercetoolsEmulator, generate_customer_drafts
from crmsync.errors import ConcurrentModificationError, CredentialsError
from crmsync.ports import ChangeEvent, RequestRecord, SourceRecord

PROJECT = "contract-proj"


@dataclass
class Setup:
    emu: CommercetoolsEmulator
    base_url: str
    records: list[RequestRecord] = field(default_factory=list)
    connectors: list[CommercetoolsConnector] = field(default_factory=list)

    def connector(self, **overrides: Any) -> CommercetoolsConnector:
        settings = {
            "type": "commercetools",
            "project_key": PROJECT,
            "api_url": self.base_url,
            "auth_url": self.base_url,
            "client_id": "crmsync-contract",
            "client_secret": "contract-secret",
            **overrides,
        }
        connector = create("ct", settings, observer=self.records.append)
        self.connectors.append(connector)
        return connector

    def seed(self, n: int, seed: int = 7) -> list[dict[str, Any]]:
        return [self.emu.create_customer(draft) for draft in generate_customer_drafts(n, seed)]

    def urls(self, path: str) -> list[URL]:
        return [URL(r.url) for r in self.records if URL(r.url).path == f"/{PROJECT}/{path}"]


@pytest.fixture()
async def setup() -> AsyncIterator[Setup]:
    emu = CommercetoolsEmulator(project_key=PROJECT)
    base_url = await emu.start()
    s = Setup(emu, base_url)
    try:
        yield s
    finally:
        for connector in s.connectors:
            await connector.aclose()
        await emu.stop()


async def read_all(connector: CommercetoolsConnector, **kw: Any) -> list[list[SourceRecord]]:
    return [page async for page in connector.read_pages("customer", **kw)]


# -- full read --------------------------------------------------------------------------------------
async def test_full_read_pages_by_keyset_and_returns_every_customer_once(setup: Setup) -> None:
    created = setup.seed(1234)
    pages = await read_all(setup.connector())
    ids = [r.id for page in pages for r in page]
    assert len(pages) == math.ceil(1234 / 500)
    assert [len(p) for p in pages] == [500, 500, 234]
    assert ids == sorted(c["id"] for c in created)  # id order, each id exactly once
    by_id = {r.id: r for page in pages for r in page}
    for customer in random.Random(1).sample(created, 25):
        record = by_id[customer["id"]]
        assert record.kind == "customer" and record.version == customer["version"]
        assert record.data == setup.emu.get_customer(customer["id"])
        assert record.modified_at is not None
    urls = setup.urls("customers")
    assert len(urls) == len(pages)
    assert all("offset" not in u.query for u in urls)
    assert all(u.query.getall("sort") == ["id asc"] and u.query["withTotal"] == "false" for u in urls)
    assert all(u.query["limit"] == "500" for u in urls)
    assert "where" not in urls[0].query
    assert [u.query["where"] for u in urls[1:]] == [f'id > "{p[-1].id}"' for p in pages[:-1]]
    assert setup.emu.request_count("GET", f"/{PROJECT}/customers") == len(pages)


async def test_full_read_resumes_after_an_id_and_honours_page_size(setup: Setup) -> None:
    created = sorted(c["id"] for c in setup.seed(260))
    pages = await read_all(setup.connector(), after=created[99], page_size=40)
    assert [r.id for p in pages for r in p] == created[100:]
    assert [len(p) for p in pages] == [40, 40, 40, 40]
    urls = setup.urls("customers")
    assert urls[0].query["where"] == f'id > "{created[99]}"' and urls[0].query["limit"] == "40"
    assert len(urls) == 5  # 160 is a multiple of 40: an empty fifth page proves the end


async def test_exact_multiple_of_the_page_size_ends_with_an_empty_page(setup: Setup) -> None:
    setup.seed(100)
    pages = await read_all(setup.connector(), page_size=50)
    assert [len(p) for p in pages] == [50, 50]
    assert len(setup.urls("customers")) == 3  # the third request proves the end


async def test_empty_project_yields_no_pages(setup: Setup) -> None:
    assert await read_all(setup.connector()) == []


# -- read by ids --------------------------------------------------------------------------------------
async def test_read_by_ids_batches_and_skips_unknown_ids(setup: Setup) -> None:
    created = setup.seed(700, seed=3)
    wanted = [c["id"] for c in random.Random(5).sample(created, 650)]
    wanted[10:10] = ["00000000-0000-0000-0000-000000000000", "does-not-exist"]
    records = await setup.connector().read_by_ids("customer", wanted)
    assert [r.id for r in records] == [i for i in wanted if i in setup.emu.customers]
    assert all(r.data == setup.emu.get_customer(r.id) for r in records[:20])
    urls = setup.urls("customers")
    assert len(urls) >= 2
    assert all(len(str(u)) <= 8000 and u.query["limit"] == "500" for u in urls)
    assert all(u.query["withTotal"] == "false" and u.query["where"].startswith("id in (") for u in urls)


async def test_get_customer(setup: Setup) -> None:
    (customer,) = setup.seed(1)
    connector = setup.connector()
    assert await connector.get_customer(customer["id"]) == setup.emu.get_customer(customer["id"])
    setup.emu.delete_customer(customer["id"], customer["version"])
    assert await connector.get_customer(customer["id"]) is None


# -- change feed ---------------------------------------------------------------------------------------
def customer_messages(emu: CommercetoolsEmulator) -> list[dict[str, Any]]:
    """The emulator's customer messages in the API's query order (createdAt, then id)."""
    found = [m for m in emu.messages if m["resource"]["typeId"] == "customer"]
    return sorted(found, key=lambda m: (m["createdAt"], m["id"]))


async def test_poll_changes_picks_up_creates_updates_and_deletes(setup: Setup) -> None:
    connector = setup.connector()
    events, cursor = await connector.poll_changes(["customer"], None)
    assert events == []
    a, b, c = setup.seed(3)
    a2 = setup.emu.update_customer(a["id"], a["version"], [{"action": "setFirstName", "firstName": "Ada"}])
    setup.emu.delete_customer(b["id"], b["version"])
    events, cursor = await connector.poll_changes(["customer"], cursor)
    messages = customer_messages(setup.emu)
    assert [e.event_id for e in events] == [m["id"] for m in messages]
    assert [(e.resource_id, e.event_type, e.sequence, e.resource_version) for e in events] == [
        (m["resource"]["id"], m["type"], m["sequenceNumber"], m["resourceVersion"]) for m in messages
    ]
    created = [e for e in events if e.event_type == "CustomerCreated"]
    assert {e.resource_id for e in created} == {a["id"], b["id"], c["id"]}
    assert all(e.record is not None and e.record["id"] == e.resource_id and e.sequence == 1 for e in created)
    (renamed,) = [e for e in events if e.event_type == "CustomerFirstNameSet"]
    assert renamed.resource_id == a["id"] and renamed.needs_fetch
    assert renamed.resource_version == a2["version"] and renamed.sequence == 2
    (deleted,) = [e for e in events if e.event_type == "CustomerDeleted"]
    assert deleted.resource_id == b["id"] and deleted.deleted and not deleted.needs_fetch
    assert cursor["last_created_at"] == max(m["createdAt"] for m in messages)
    assert set(cursor["recent_ids"]) == {m["id"] for m in messages}


async def test_overlapping_polls_deduplicate_and_a_cursor_resumes(setup: Setup) -> None:
    connector = setup.connector()
    _, cursor0 = await connector.poll_changes(["customer"], None)
    (a,) = setup.seed(1)
    first, cursor1 = await connector.poll_changes(["customer"], cursor0)
    assert [e.event_type for e in first] == ["CustomerCreated"]
    again, cursor2 = await connector.poll_changes(["customer"], cursor1)
    assert again == []  # the window overlaps the last poll, the ids already returned are dropped
    where = URL(setup.records[-1].url).query["where"]
    assert 'createdAt >= "' in where
    assert cursor2["last_created_at"] == cursor1["last_created_at"]
    setup.emu.update_customer(a["id"], a["version"], [{"action": "setLastName", "lastName": "Lovelace"}])
    second, cursor3 = await connector.poll_changes(["customer"], cursor2)
    assert [e.event_type for e in second] == ["CustomerLastNameSet"]
    # the engine crashed before storing cursor3: polling from the stored cursor2 replays the same events
    replay, _ = await connector.poll_changes(["customer"], cursor2)
    assert [e.event_id for e in replay] == [e.event_id for e in second]
    # a fresh connector (new process) resumes from the stored cursor
    resumed, _ = await setup.connector().poll_changes(["customer"], cursor3)
    assert resumed == []


async def test_poll_changes_pages_through_crowded_windows(setup: Setup) -> None:
    connector = setup.connector(page_size=50, poll_max_events=100_000)
    _, cursor = await connector.poll_changes(["customer"], None)
    setup.seed(600, seed=11)  # created within milliseconds: many messages share one createdAt
    events, cursor = await connector.poll_changes(["customer"], cursor)
    expected = [m["id"] for m in customer_messages(setup.emu)]
    assert sorted(e.event_id for e in events) == sorted(expected)
    assert len({e.event_id for e in events}) == 600
    urls = setup.urls("messages")
    assert all("offset" not in u.query and u.query["limit"] == "50" for u in urls)
    more, _ = await connector.poll_changes(["customer"], cursor)
    assert more == []


async def test_poll_changes_is_bounded_per_call(setup: Setup) -> None:
    connector = setup.connector(page_size=100, poll_max_events=150)
    cursor: dict[str, Any] | None = None
    _, cursor = await connector.poll_changes(["customer"], cursor)
    setup.seed(400, seed=5)
    seen: list[ChangeEvent] = []
    for _ in range(6):
        events, cursor = await connector.poll_changes(["customer"], cursor)
        assert len(events) <= 200  # stops at the first page that reaches 150 events
        seen += events
    assert sorted(e.event_id for e in seen) == sorted(m["id"] for m in customer_messages(setup.emu))


# -- auth ----------------------------------------------------------------------------------------------
async def test_expired_token_is_refreshed_once_and_the_call_succeeds(setup: Setup) -> None:
    (customer,) = setup.seed(1)
    connector = setup.connector()
    assert await connector.get_customer(customer["id"]) is not None
    setup.emu.expire_tokens()
    assert await connector.get_customer(customer["id"]) is not None
    assert setup.emu.request_count("POST", "/oauth/token") == 2
    statuses = [r.status for r in setup.records if r.operation == "GET /customers/{id}"]
    assert statuses == [200, 401, 200]


async def test_scopes_are_enforced(setup: Setup) -> None:
    connector = setup.connector(scopes=[f"view_orders:{PROJECT}"])
    with pytest.raises(CredentialsError) as info:
        await read_all(connector)
    assert info.value.status == 403
    connector = setup.connector(scopes=["manage_customers:other-project"])
    with pytest.raises(CredentialsError) as info:
        await read_all(connector)
    assert "contract-secret" not in str(info.value)
    ok = setup.connector(scopes=[f"view_customers:{PROJECT}", f"view_messages:{PROJECT}"])
    assert await read_all(ok) == []
    assert (await ok.poll_changes(["customer"], None))[0] == []


# -- optimistic concurrency ---------------------------------------------------------------------------
async def test_stale_update_is_a_concurrent_modification(setup: Setup) -> None:
    (customer,) = setup.seed(1)
    connector = setup.connector()
    updated = await connector.update_customer(
        customer["id"], customer["version"], [{"action": "setFirstName", "firstName": "Grace"}]
    )
    assert updated["firstName"] == "Grace" and updated["version"] == customer["version"] + 1
    with pytest.raises(ConcurrentModificationError) as info:
        await connector.update_customer(
            customer["id"], customer["version"], [{"action": "setLastName", "lastName": "Hopper"}]
        )
    assert info.value.current_version == updated["version"]
    assert info.value.status == 409 and info.value.correlation_id
