"""Fault injection on the commercetools emulator, over real HTTP, and its run-time delivery knobs."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.faults import NO_RESPONSE, FaultPlan

from ._support import CT_PROJECT, CtClient, admin

pytestmark = pytest.mark.asyncio

DRAFT = {"email": "f@example.com", "password": "secret", "firstName": "Fay"}


@pytest.mark.parametrize(
    ("status", "code"), [(500, "General"), (502, "BadGateway"), (503, "OverCapacity"), (504, "General")]
)
async def test_injected_5xx_uses_the_platform_envelope(
    ct: CommercetoolsEmulator, ct_client: CtClient, status: int, code: str
) -> None:
    ct.set_faults(FaultPlan(error_rate=1.0, error_statuses=(status,)))
    got, body, headers = await ct_client.call("GET", "/customers", headers={"X-Correlation-ID": "corr-1"})
    assert got == status
    assert headers["X-Correlation-ID"] == "corr-1"
    assert headers["Content-Type"].startswith("application/json")
    assert body["statusCode"] == status
    [error] = body["errors"]
    assert error["code"] == code and body["message"] == error["message"]
    assert ct.request_log[-1][1:3] == (f"/{CT_PROJECT}/customers", status)


async def test_injected_429_has_retry_after_and_the_envelope(
    ct: CommercetoolsEmulator, ct_client: CtClient
) -> None:
    ct.set_faults(FaultPlan(throttle_rate=1.0, retry_after_s=3))
    status, body, headers = await ct_client.call("GET", "/customers")
    assert status == 429 and headers["Retry-After"] == "3"
    assert body["statusCode"] == 429 and body["errors"][0]["code"] == "General"
    assert headers["X-Correlation-ID"].startswith(f"projects-{CT_PROJECT}-")


async def test_head_requests_get_no_body(ct: CommercetoolsEmulator, ct_client: CtClient) -> None:
    ct.set_faults(FaultPlan(error_rate=1.0, error_statuses=(503,)))
    status, body, _ = await ct_client.call("HEAD", "/customers")
    assert status == 503 and body is None


async def test_oauth_is_only_faulted_when_listed(ct: CommercetoolsEmulator, ct_client: CtClient) -> None:
    basic = "Basic " + base64.b64encode(b"client:secret").decode()

    async def token() -> int:
        async with ct_client.session.post(
            ct.base_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic},
        ) as response:
            return response.status

    ct.set_faults(FaultPlan(error_rate=1.0, error_statuses=(503,)))
    assert await token() == 200
    ct.set_faults(FaultPlan(error_rate=1.0, error_statuses=(503,), paths=("/oauth/token",)))
    assert await token() == 503
    assert (await ct_client.call("GET", "/customers"))[0] == 200


async def test_after_effect_update_applied_although_the_client_saw_an_error(
    ct: CommercetoolsEmulator, ct_client: CtClient
) -> None:
    customer = ct.create_customer(DRAFT)
    ct.set_faults(FaultPlan(error_rate=1.0, error_statuses=(502,), after_effect_rate=1.0))
    update = {"version": 1, "actions": [{"action": "setFirstName", "firstName": "Zoe"}]}
    status, body, _ = await ct_client.call("POST", f"/customers/{customer['id']}", update)
    assert status == 502 and body["errors"][0]["code"] == "BadGateway"
    stored = ct.get_customer(customer["id"])
    assert stored is not None and stored["version"] == 2 and stored["firstName"] == "Zoe"
    assert ct.fault_stats["after_effect"] == 1
    # the naive retry of the same request now conflicts: the reason retries must be idempotent
    ct.clear_faults()
    status, body, _ = await ct_client.call("POST", f"/customers/{customer['id']}", update)
    assert status == 409 and body["errors"][0]["code"] == "ConcurrentModification"


async def test_after_effect_reset_applies_the_create(ct: CommercetoolsEmulator, ct_client: CtClient) -> None:
    ct.set_faults(FaultPlan(reset_rate=1.0, after_effect_rate=1.0))
    with pytest.raises(aiohttp.ClientConnectionError):
        await ct_client.call("POST", "/customers", DRAFT)
    assert [c["email"] for c in ct.customers.values()] == ["f@example.com"]
    assert ct.request_log[-1][2] == 201


async def test_reset_before_effect_changes_nothing_and_the_emulator_keeps_serving(
    ct: CommercetoolsEmulator, ct_client: CtClient
) -> None:
    ct.set_faults(FaultPlan(reset_rate=1.0))
    for _ in range(5):
        with pytest.raises(aiohttp.ClientConnectionError):
            await ct_client.call("POST", "/customers", DRAFT)
    assert len(ct.customers) == 0
    assert ct.request_count("POST", f"/{CT_PROJECT}/customers") == 5
    assert {status for _, _, status, _ in ct.request_log[-5:]} == {NO_RESPONSE}
    ct.clear_faults()
    assert (await ct_client.call("POST", "/customers", DRAFT))[0] == 201


async def test_timeout_lets_the_client_time_out(ct: CommercetoolsEmulator, ct_client: CtClient) -> None:
    ct.set_faults(FaultPlan(timeout_rate=1.0, timeout_hang_s=10))
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with ct_client.session.post(
            ct_client.url("/customers"),
            json=DRAFT,
            headers={"Authorization": f"Bearer {ct_client.token}"},
            timeout=aiohttp.ClientTimeout(total=0.2),
        ) as response:
            await response.read()
    assert time.monotonic() - started < 2
    assert len(ct.customers) == 0
    ct.clear_faults()
    assert (await ct_client.call("POST", "/customers", DRAFT))[0] == 201


async def test_error_rate_is_honoured(ct: CommercetoolsEmulator, ct_client: CtClient) -> None:
    ct.set_faults(FaultPlan(error_rate=0.2, seed=5))
    sem = asyncio.Semaphore(32)
    headers = {"Authorization": f"Bearer {ct_client.token}"}

    async def one() -> int:
        async with sem, ct_client.session.get(ct_client.url(""), headers=headers) as response:
            await response.read()
            return response.status

    total = 2000
    statuses = Counter(await asyncio.gather(*(one() for _ in range(total))))
    errors = total - statuses[200]
    assert 0.15 * total <= errors <= 0.25 * total
    assert set(statuses) == {200, 500, 502, 503}
    assert ct.fault_stats["error"] == errors


# -- subscription delivery knobs -------------------------------------------------------------------
@pytest.fixture()
async def push_url() -> AsyncIterator[tuple[list[str], str]]:
    received: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        envelope: dict[str, Any] = await request.json()
        received.append(base64.b64decode(envelope["message"]["data"]).decode())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/push", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield received, str(server.make_url("/push"))
    finally:
        await server.close()


async def test_delivery_duplicates_switch_on_at_run_time_over_http(push_url: tuple[list[str], str]) -> None:
    received, url = push_url
    emu = CommercetoolsEmulator(CT_PROJECT, subscription_url=url, seed=1)
    await emu.start()
    try:
        async with aiohttp.ClientSession() as session:
            admin_url = emu.base_url + "/__emulator/delivery"
            status, state = await admin(session, "GET", admin_url)
            assert status == 200 and state["enabled"] and state["duplicate_rate"] == 0.0
            emu.create_customer(DRAFT)
            await emu.drain_deliveries()
            once = len(received)
            assert once == len(set(received))

            status, state = await admin(session, "PUT", admin_url, {"duplicate_rate": 1.0})
            assert status == 200 and state["duplicate_rate"] == 1.0 and state["reorder_rate"] == 0.0
            emu.create_customer({**DRAFT, "email": "g@example.com"})
            await emu.drain_deliveries()
            second = received[once:]
            assert len(second) == 2 * len(set(second))  # every item delivered twice

            status, body = await admin(session, "PUT", admin_url, {"reorder_rate": 2})
            assert status == 400 and "reorder_rate must be between 0 and 1" in body["detail"]
            status, body = await admin(session, "PUT", admin_url, {"duplicate": 1})
            assert status == 400 and "unknown field" in body["detail"]
    finally:
        await emu.stop()


async def test_delivery_knobs_from_python(push_url: tuple[list[str], str]) -> None:
    _, url = push_url
    emu = CommercetoolsEmulator(CT_PROJECT, subscription_url=url)
    emu.set_delivery_faults(reorder_rate=0.5)
    assert emu.delivery is not None and emu.delivery.reorder_rate == 0.5
    emu.set_delivery_faults(duplicate_rate=0.25)
    assert (emu.delivery.duplicate_rate, emu.delivery.reorder_rate) == (0.25, 0.5)
    with pytest.raises(ValueError, match="duplicate_rate must be between 0 and 1"):
        emu.set_delivery_faults(duplicate_rate=-1, reorder_rate=0.1)
    assert emu.delivery.reorder_rate == 0.5  # nothing changed on a refused call


async def test_delivery_knobs_without_a_subscription(ct: CommercetoolsEmulator) -> None:
    with pytest.raises(RuntimeError, match="no subscription_url"):
        ct.set_delivery_faults(duplicate_rate=0.1)
    async with aiohttp.ClientSession() as session:
        status, state = await admin(session, "GET", ct.base_url + "/__emulator/delivery")
        assert status == 200 and state == {"enabled": False}
        status, body = await admin(
            session, "PUT", ct.base_url + "/__emulator/delivery", {"duplicate_rate": 0.1}
        )
        assert status == 409 and body["error"] == "no_subscription"


async def test_faults_given_at_construction() -> None:
    emu = CommercetoolsEmulator(CT_PROJECT, faults=FaultPlan(error_rate=1.0, error_statuses=(500,)))
    await emu.start()
    try:
        async with aiohttp.ClientSession() as session:
            basic = "Basic " + base64.b64encode(b"client:secret").decode()
            async with session.post(
                emu.base_url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": basic},
            ) as response:
                token = (await response.json())["access_token"]
            client = CtClient(session, emu.base_url, token)
            assert (await client.call("GET", "/customers"))[0] == 500
            emu.clear_faults()
            assert (await client.call("GET", "/customers"))[0] == 200
    finally:
        await emu.stop()
