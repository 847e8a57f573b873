"""The Messages API: what each change writes, sequence numbers, resource versions, querying."""

from __future__ import annotations

import itertools
import random
import re
from collections import defaultdict
from typing import Any

from crmsync.emulators.commercetools import (
    CommercetoolsEmulator,
    generate_customer_drafts,
    generate_update_actions,
)

from .conftest import Api, simple_draft

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
COMMON = [
    "id",
    "version",
    "sequenceNumber",
    "resource",
    "resourceVersion",
    "resourceUserProvidedIdentifiers",
    "type",
]


async def test_created_message_has_the_common_fields_and_the_customer(
    api: Api, emu: CommercetoolsEmulator
) -> None:
    customer = await api.create(simple_draft(1, key="k-1", customerNumber="CN-1", externalId="e-1"))
    (message,) = emu.messages
    assert list(message)[: len(COMMON)] == COMMON
    assert message["version"] == 1 and message["sequenceNumber"] == 1 and message["resourceVersion"] == 1
    assert message["resource"] == {"typeId": "customer", "id": customer["id"]}
    assert message["resourceUserProvidedIdentifiers"] == {
        "key": "k-1",
        "externalId": "e-1",
        "customerNumber": "CN-1",
    }
    assert message["type"] == "CustomerCreated" and message["customer"] == customer
    assert message["createdAt"] == message["lastModifiedAt"] == customer["createdAt"]
    assert ISO_MILLIS.match(message["createdAt"])
    assert (
        message["createdBy"] == message["lastModifiedBy"] == {"clientId": "client", "isPlatformClient": False}
    )
    assert await api.get(f"/messages/{message['id']}") == (200, message)
    assert (await api.get("/messages/00000000-0000-4000-8000-000000000000"))[0] == 404


async def test_locale_and_other_silent_actions_write_no_message(api: Api, emu: CommercetoolsEmulator) -> None:
    customer = await api.create(simple_draft(1))
    status, updated = await api.update(
        customer,
        {"action": "setLocale", "locale": "en-GB"},
        {"action": "setMiddleName", "middleName": "Q"},
        {"action": "setSalutation", "salutation": "Ms"},
        {"action": "setVatId", "vatId": "GB1"},
    )
    assert status == 200 and updated["version"] == 2
    assert [m["type"] for m in emu.messages] == ["CustomerCreated"]
    assert not any("Locale" in m["type"] for m in emu.messages)


async def test_delete_writes_customer_deleted_with_or_without_email(
    api: Api, emu: CommercetoolsEmulator
) -> None:
    kept = await api.create(simple_draft(1))
    erased = await api.create(simple_draft(2))
    await api.call("DELETE", f"/customers/{kept['id']}", params={"version": 1})
    await api.call("DELETE", f"/customers/{erased['id']}", params={"version": 1, "dataErasure": "true"})
    deleted = [m for m in emu.messages if m["type"] == "CustomerDeleted"]
    assert [m["resource"]["id"] for m in deleted] == [kept["id"], erased["id"]]
    assert deleted[0]["email"] == "user1@example.com" and "email" not in deleted[1]
    assert all(m["sequenceNumber"] == 2 and m["resourceVersion"] == 2 for m in deleted)


async def test_sequence_numbers_and_resource_versions_across_many_updates(emu: CommercetoolsEmulator) -> None:
    rng = random.Random(3)
    customers = [emu.create_customer(d) for d in generate_customer_drafts(20, seed=3)]
    for _ in range(400):
        current = emu.get_customer(rng.choice(customers)["id"])
        assert current is not None
        emu.update_customer(current["id"], current["version"], generate_update_actions(current, rng))
    by_resource: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in emu.messages:
        by_resource[message["resource"]["id"]].append(message)
    assert len(emu.messages) > 420
    for customer_id, messages in by_resource.items():
        assert [m["sequenceNumber"] for m in messages] == list(range(1, len(messages) + 1))
        versions = [m["resourceVersion"] for m in messages]
        assert versions == sorted(versions) and versions[0] == 1
        final = emu.get_customer(customer_id)
        assert final is not None and versions[-1] <= final["version"]
        for earlier, later in itertools.pairwise(messages):
            assert earlier["createdAt"] <= later["createdAt"]


async def test_one_request_writes_messages_sharing_resource_version_and_time(
    api: Api, emu: CommercetoolsEmulator
) -> None:
    customer = await api.create(simple_draft(1))
    status, updated = await api.update(
        customer,
        {"action": "setFirstName", "firstName": "A"},
        {"action": "setLastName", "lastName": "B"},
        {"action": "setTitle", "title": "Dr"},
    )
    assert status == 200
    written = emu.messages[1:]
    assert [m["sequenceNumber"] for m in written] == [2, 3, 4]
    assert {m["resourceVersion"] for m in written} == {updated["version"]} == {2}
    assert {m["createdAt"] for m in written} == {updated["lastModifiedAt"]}


async def test_messages_query_paging_and_filters(api: Api, emu: CommercetoolsEmulator) -> None:
    first = [emu.create_customer(simple_draft(i)) for i in range(30)]
    cutoff = emu.messages[-1]["createdAt"]
    emu.clock.advance(0.01)
    for customer in first[:10]:
        emu.update_customer(customer["id"], 1, [{"action": "setLastName", "lastName": "Later"}])
    where = f'resource(typeId = "customer") and createdAt > "{cutoff}"'
    status, page = await api.get(
        "/messages", where=where, sort=["createdAt asc", "id asc"], limit="4", withTotal="false"
    )
    assert status == 200 and "total" not in page and page["count"] == 4
    assert all(m["type"] == "CustomerLastNameSet" for m in page["results"])
    keys = [(m["createdAt"], m["id"]) for m in page["results"]]
    assert keys == sorted(keys)
    status, counted = await api.get("/messages", where=where)
    assert counted["total"] == 10 and counted["limit"] == 20 and counted["offset"] == 0
    status, typed = await api.get("/messages", where='type = "CustomerCreated"', limit="500")
    assert typed["total"] == 30 and typed["count"] == 30
    status, none = await api.get("/messages", where='resource(typeId = "order")')
    assert none["total"] == 0 and none["results"] == []
    assert (await api.call("HEAD", "/messages", params={"where": 'type = "CustomerLastNameSet"'}))[0] == 200
    assert (await api.call("HEAD", "/messages", params={"where": 'type = "CustomerDeleted"'}))[0] == 404


async def test_keyset_poll_over_created_at_and_id_sees_every_message_once(
    api: Api, emu: CommercetoolsEmulator
) -> None:
    for i in range(120):
        emu.create_customer(simple_draft(i))  # many share one millisecond: the id breaks the ties
    seen: list[str] = []
    where = 'resource(typeId="customer")'
    for _ in range(20):
        status, page = await api.get(
            "/messages", where=where, sort=["createdAt asc", "id asc"], limit="25", withTotal="false"
        )
        assert status == 200
        seen += [m["id"] for m in page["results"]]
        if page["count"] < 25:
            break
        last = page["results"][-1]
        where = (
            f'resource(typeId="customer") and (createdAt > "{last["createdAt"]}" '
            f'or (createdAt = "{last["createdAt"]}" and id > "{last["id"]}"))'
        )
    assert len(seen) == len(set(seen)) == 120
    assert set(seen) == {m["id"] for m in emu.messages}
