"""Pushed deliveries from the emulator's subscription (Pub/Sub push envelopes) through parse_ingress."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from crmsync.connectors.commercetools import parse_ingress
from crmsync.emulators.commercetools import CommercetoolsEmulator, generate_customer_drafts
from crmsync.errors import IngressError
from crmsync.ports import ChangeEvent

PROJECT = "push-proj"


class Receiver:
    """An HTTP push endpoint that acknowledges what parses and refuses (400) what does not."""

    def __init__(self) -> None:
        self.events: list[ChangeEvent] = []
        self.errors: list[str] = []
        self.deliveries = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.deliveries += 1
        try:
            self.events += parse_ingress(await request.read(), request.headers)
        except IngressError as exc:
            self.errors.append(exc.reason)
            return web.json_response({"error": exc.reason}, status=400)
        return web.Response(status=204)


@pytest.fixture()
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/push", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield rec, str(server.make_url("/push"))
    finally:
        await server.close()


async def run_scenario(emu: CommercetoolsEmulator) -> dict[str, Any]:
    customers = [emu.create_customer(d) for d in generate_customer_drafts(5, seed=9)]
    first, second, third = customers[:3]
    emu.update_customer(first["id"], first["version"], [{"action": "setFirstName", "firstName": "Ada"}])
    emu.delete_customer(second["id"], second["version"])
    emu.delete_customer(third["id"], third["version"], data_erasure=True)
    await emu.drain_deliveries(timeout=20)
    return {"renamed": first["id"], "deleted": second["id"], "erased": third["id"]}


@pytest.mark.parametrize("payload_format", ["Platform", "CloudEvents"])
async def test_every_pushed_message_and_change_parses(
    receiver: tuple[Receiver, str], payload_format: str
) -> None:
    rec, url = receiver
    emu = CommercetoolsEmulator(
        PROJECT,
        subscription_url=url,
        subscription_format=payload_format,
        duplicate_rate=0.3,
        reorder_rate=0.3,
        seed=4,
    )
    await emu.start()
    try:
        ids = await run_scenario(emu)
    finally:
        await emu.stop()
    assert rec.errors == []
    unique = {e.event_id: e for e in rec.events}
    assert len(rec.events) > len(unique)  # at-least-once: duplicates arrived and share the event id
    messages = {m["id"]: m for m in emu.messages if m["resource"]["typeId"] == "customer"}
    message_events = {k: e for k, e in unique.items() if k in messages}
    assert set(message_events) == set(messages)
    for event_id, event in message_events.items():
        assert event.sequence == messages[event_id]["sequenceNumber"]
        assert event.event_type == messages[event_id]["type"]
    created = [e for e in message_events.values() if e.event_type == "CustomerCreated"]
    assert len(created) == 5 and all(e.record is not None for e in created)
    changes = [e for k, e in unique.items() if k not in messages]
    assert {e.event_type for e in changes} == {"ResourceCreated", "ResourceUpdated", "ResourceDeleted"}
    assert all(e.event_id == f"{e.resource_id}:{e.resource_version}" for e in changes)
    deletions = {e.resource_id: e for e in changes if e.event_type == "ResourceDeleted"}
    assert set(deletions) == {ids["deleted"], ids["erased"]}
    assert deletions[ids["erased"]].data_erasure
    assert not deletions[ids["deleted"]].data_erasure
    renamed = [e for e in message_events.values() if e.resource_id == ids["renamed"]]
    assert [e.event_type for e in sorted(renamed, key=lambda e: e.sequence or 0)] == [
        "CustomerCreated",
        "CustomerFirstNameSet",
    ]


async def test_payload_not_included_deliveries_need_a_fetch(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url, max_payload_bytes=300)
    await emu.start()
    try:
        emu.create_customer(generate_customer_drafts(1, seed=2)[0])
        await emu.drain_deliveries(timeout=20)
    finally:
        await emu.stop()
    assert rec.errors == []
    (created,) = [e for e in rec.events if e.event_type == "CustomerCreated"]
    assert created.record is None and created.needs_fetch
    assert "payloadNotIncluded" in created.raw
