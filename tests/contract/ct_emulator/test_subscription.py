"""Subscription delivery as Pub/Sub push requests: envelope, formats, retries, duplicates, reordering."""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .conftest import PROJECT, simple_draft

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@dataclass
class Receiver:
    """A push endpoint; ``fail_first`` requests get 500, then each fails with ``fail_rate``."""

    fail_first: int = 0
    fail_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    requests: int = 0
    envelopes: list[dict[str, Any]] = field(default_factory=list)  # acknowledged ones, in arrival order
    failed_ids: list[str] = field(default_factory=list)
    user_agents: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        envelope = await request.json()
        self.user_agents.add(request.headers.get("User-Agent", ""))
        if self.requests <= self.fail_first or self.rng.random() < self.fail_rate:
            self.failed_ids.append(envelope["message"]["messageId"])
            return web.Response(status=503 if self.requests % 2 else 500)
        self.envelopes.append(envelope)
        return web.Response(status=204)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(base64.b64decode(e["message"]["data"])) for e in self.envelopes]


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


def identity(payload: dict[str, Any]) -> tuple[Any, ...]:
    """What a consumer de-duplicates on: the Message id, or (resource id, version) for changes."""
    data = payload.get("data", payload)
    if data["notificationType"] == "Message":
        return ("message", data["id"])
    return (data["notificationType"], data["resource"]["id"], data["version"])


async def test_platform_payloads_in_pubsub_envelopes(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url)
    await emu.start()
    try:
        a, b = emu.create_customer(simple_draft(1, key="key-a")), emu.create_customer(simple_draft(2))
        emu.update_customer(a["id"], 1, [{"action": "setFirstName", "firstName": "Ada"}])
        emu.update_customer(a["id"], 2, [{"action": "setLocale", "locale": "de-DE"}])
        emu.delete_customer(b["id"], 1, data_erasure=True)
        await emu.drain_deliveries(timeout=10)
    finally:
        await emu.stop()
    for envelope in rec.envelopes:
        assert set(envelope) == {"message", "subscription"}
        assert envelope["subscription"] == f"projects/emulator/subscriptions/{PROJECT}"
        message = envelope["message"]
        assert set(message) == {
            "data",
            "attributes",
            "messageId",
            "message_id",
            "publishTime",
            "publish_time",
        }
        assert message["messageId"] == message["message_id"] and message["messageId"].isdigit()
        assert message["publishTime"] == message["publish_time"] and ISO_MILLIS.match(message["publishTime"])
        assert message["attributes"] == {}
    assert rec.user_agents == {"APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"}
    payloads = rec.payloads
    messages = [p for p in payloads if p["notificationType"] == "Message"]
    assert [p["id"] for p in messages] == [m["id"] for m in emu.messages]
    for payload, message in zip(messages, emu.messages, strict=True):
        assert payload["projectKey"] == PROJECT
        expected = {k: v for k, v in message.items() if k not in ("createdBy", "lastModifiedBy")}
        assert {k: v for k, v in payload.items() if k not in ("notificationType", "projectKey")} == expected
    changes = [
        (p["notificationType"], p["resource"]["id"], p["version"], p.get("oldVersion"))
        for p in payloads
        if p["notificationType"] != "Message"
    ]
    assert changes == [
        ("ResourceCreated", a["id"], 1, None),
        ("ResourceCreated", b["id"], 1, None),
        ("ResourceUpdated", a["id"], 2, 1),
        ("ResourceUpdated", a["id"], 3, 2),  # setLocale: no Message, but a change notification
        ("ResourceDeleted", b["id"], 2, None),
    ]
    deleted = payloads[-1]
    assert deleted["dataErasure"] is True and deleted["resourceUserProvidedIdentifiers"] == {}
    created_a = next(p for p in payloads if p["notificationType"] == "ResourceCreated")
    assert created_a["resourceUserProvidedIdentifiers"] == {"key": "key-a"} and ISO_MILLIS.match(
        created_a["modifiedAt"]
    )


async def test_cloudevents_format(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url, subscription_format="CloudEvents")
    await emu.start()
    try:
        customer = emu.create_customer(simple_draft(1))
        emu.update_customer(customer["id"], 1, [{"action": "setLastName", "lastName": "Doe"}])
        await emu.drain_deliveries(timeout=10)
    finally:
        await emu.stop()
    events = rec.payloads
    assert [e["type"] for e in events] == [
        "com.commercetools.customer.message.CustomerCreated",
        "com.commercetools.customer.change.ResourceCreated",
        "com.commercetools.customer.message.CustomerLastNameSet",
        "com.commercetools.customer.change.ResourceUpdated",
    ]
    for event in events:
        assert event["specversion"] == "1.0" and event["source"] == f"/{PROJECT}/customers"
        assert event["subject"] == customer["id"] and ISO_MILLIS.match(event["time"])
        assert event["data"]["projectKey"] == PROJECT
    renamed = events[2]
    assert (
        renamed["id"] == renamed["data"]["id"]
        and renamed["sequence"] == "2"
        and renamed["sequencetype"] == "Integer"
    )
    assert renamed["dataref"] == f"/{PROJECT}/messages/{renamed['id']}"
    assert events[3]["sequence"] == "2" and "dataref" not in events[3]


async def test_delivery_without_faults_is_exactly_once_in_order(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url)
    await emu.start()
    try:
        for i in range(40):
            emu.create_customer(simple_draft(i))
        await emu.drain_deliveries(timeout=10)
    finally:
        await emu.stop()
    keys = [identity(p) for p in rec.payloads]
    assert len(keys) == 80 == len(set(keys))
    message_ids = [k[1] for k in keys if k[0] == "message"]
    assert message_ids == [m["id"] for m in emu.messages]
    stats = emu.delivery_stats
    assert stats is not None and (stats.duplicates, stats.reordered, stats.failed_attempts) == (0, 0, 0)


async def test_duplicates_and_reordering_happen_at_the_configured_rates(
    receiver: tuple[Receiver, str],
) -> None:
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url, duplicate_rate=0.25, reorder_rate=0.2, seed=11)
    await emu.start()
    try:
        for i in range(150):
            emu.create_customer(simple_draft(i))
        await emu.drain_deliveries(timeout=20)
    finally:
        await emu.stop()
    keys = [identity(p) for p in rec.payloads]
    counts = Counter(keys)
    assert len(counts) == 300  # every Message and change notification arrived
    duplicated = sum(1 for n in counts.values() if n > 1)
    assert 0.15 * 300 < duplicated < 0.35 * 300
    stats = emu.delivery_stats
    assert stats is not None and stats.duplicates == duplicated and stats.delivered == len(keys)
    assert 0.1 * 300 < stats.reordered < 0.3 * 300
    order = {m["id"]: i for i, m in enumerate(emu.messages)}
    first_arrivals = list(dict.fromkeys(k[1] for k in keys if k[0] == "message"))
    positions = [order[i] for i in first_arrivals]
    inversions = sum(1 for earlier, later in itertools.pairwise(positions) if later < earlier)
    assert inversions > 10
    envelope_ids = [e["message"]["messageId"] for e in rec.envelopes]
    assert len(envelope_ids) == len(set(envelope_ids))  # platform duplicates are new Pub/Sub messages


async def test_failed_pushes_are_retried_with_the_same_message_id(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.fail_first, rec.fail_rate = 3, 0.2
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url, retry_backoff=(0.01, 0.05), seed=2)
    await emu.start()
    try:
        for i in range(30):
            emu.create_customer(simple_draft(i))
        await emu.drain_deliveries(timeout=20)
    finally:
        await emu.stop()
    keys = [identity(p) for p in rec.payloads]
    assert len(set(keys)) == 60 == len(keys)
    acknowledged = {e["message"]["messageId"] for e in rec.envelopes}
    assert len(rec.failed_ids) >= 3 and set(rec.failed_ids) <= acknowledged
    stats = emu.delivery_stats
    assert stats is not None and stats.failed_attempts == len(rec.failed_ids)
    assert stats.attempts == stats.delivered + stats.failed_attempts


async def test_unreachable_endpoint_keeps_items_outstanding() -> None:
    emu = CommercetoolsEmulator(
        PROJECT, subscription_url="http://127.0.0.1:9/push", retry_backoff=(0.01, 0.02)
    )
    await emu.start()
    try:
        emu.create_customer(simple_draft(1))
        with pytest.raises(TimeoutError, match="2 subscription deliveries still outstanding"):
            await emu.drain_deliveries(timeout=0.3)
    finally:
        await emu.stop()


async def test_large_messages_are_sent_without_payload(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url, max_payload_bytes=400)
    await emu.start()
    try:
        customer = emu.create_customer(simple_draft(1))
        emu.update_customer(customer["id"], 1, [{"action": "setLastName", "lastName": "Short"}])
        await emu.drain_deliveries(timeout=10)
    finally:
        await emu.stop()
    created, _, renamed, _ = rec.payloads
    assert created["payloadNotIncluded"] == {"reason": "Payload too large.", "payloadType": "CustomerCreated"}
    assert "customer" not in created and created["id"] == emu.messages[0]["id"]
    assert created["sequenceNumber"] == 1 and created["resourceVersion"] == 1
    assert renamed["type"] == "CustomerLastNameSet" and renamed["lastName"] == "Short"


async def test_changes_made_from_another_thread_are_delivered(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url)
    emu.start_in_thread()
    try:
        emu.create_customer(simple_draft(1))  # this thread is not the emulator's loop thread
        await emu.drain_deliveries(timeout=10)
    finally:
        emu.stop_thread()
    assert [p["notificationType"] for p in rec.payloads] == ["Message", "ResourceCreated"]


async def test_changes_before_start_are_delivered_after_start(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url)
    emu.create_customer(simple_draft(1))
    await emu.start()
    try:
        await emu.drain_deliveries(timeout=10)
    finally:
        await emu.stop()
    assert len(rec.payloads) == 2


async def test_no_subscription_means_no_delivery() -> None:
    emu = CommercetoolsEmulator(PROJECT)
    emu.create_customer(simple_draft(1))
    await emu.drain_deliveries(timeout=0.1)
    assert emu.delivery_stats is None


def test_rates_and_format_are_validated() -> None:
    with pytest.raises(ValueError, match="duplicate_rate"):
        CommercetoolsEmulator(PROJECT, subscription_url="http://127.0.0.1:1/", duplicate_rate=1.5)
    with pytest.raises(ValueError, match="subscription_format"):
        CommercetoolsEmulator(PROJECT, subscription_url="http://127.0.0.1:1/", subscription_format="Xml")


async def test_items_waiting_for_a_retry_survive_a_restart(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.fail_first = 1_000_000  # the endpoint is down
    emu = CommercetoolsEmulator(PROJECT, subscription_url=url, retry_backoff=(0.5, 1.0))
    await emu.start()
    try:
        for i in range(3):
            emu.create_customer(simple_draft(i))
        with pytest.raises(TimeoutError):
            await emu.drain_deliveries(timeout=0.2)
    finally:
        await emu.stop()
    rec.fail_first = 0  # the endpoint is back
    await emu.start()
    try:
        await emu.drain_deliveries(timeout=10)
    finally:
        await emu.stop()
    assert len({identity(p) for p in rec.payloads}) == 6
