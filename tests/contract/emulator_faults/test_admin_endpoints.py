"""The emulator-only control endpoints: runtime switching, validation, and their exemptions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.faults import FAULTS_PATH, FaultPlan
from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import CtClient, admin

pytestmark = pytest.mark.asyncio


@pytest.fixture()
async def bare() -> AsyncIterator[aiohttp.ClientSession]:
    """A session with no vendor headers: admin calls need no auth and no revision."""
    async with aiohttp.ClientSession() as session:
        yield session


async def test_put_get_delete_switch_klaviyo_faults_at_run_time(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession, bare: aiohttp.ClientSession
) -> None:
    url = klaviyo.base_url + FAULTS_PATH
    status, state = await admin(bare, "GET", url)
    assert status == 200 and state["active"] is False and state["plan"] == FaultPlan().to_dict()

    status, state = await admin(bare, "PUT", url, {"error_rate": 1.0, "error_statuses": [502], "seed": 3})
    assert status == 200 and state["active"] is True
    assert klaviyo.fault_plan == FaultPlan(error_rate=1.0, error_statuses=(502,), seed=3)
    async with kl_session.get(klaviyo.base_url + "/api/profiles") as response:
        assert response.status == 502

    status, state = await admin(bare, "GET", url)
    assert state["stats"] == {"requests": 1, "faulted": 1, "error": 1, "error_502": 1}

    status, state = await admin(bare, "DELETE", url)
    assert status == 200 and state["active"] is False
    assert state["stats"]["error"] == 1  # counters survive clearing
    async with kl_session.get(klaviyo.base_url + "/api/profiles") as response:
        assert response.status == 200


async def test_put_replaces_the_whole_plan(klaviyo: KlaviyoEmulator, bare: aiohttp.ClientSession) -> None:
    url = klaviyo.base_url + FAULTS_PATH
    await admin(bare, "PUT", url, {"error_rate": 0.5, "latency_ms": 10})
    await admin(bare, "PUT", url, {"reset_rate": 0.1})
    assert klaviyo.fault_plan == FaultPlan(reset_rate=0.1)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"", "body must be a JSON object"),
        (b"[1, 2]", "body must be a JSON object"),
        (b'{"error_rate": 1.5}', "error_rate must be between 0 and 1, got 1.5"),
        (b'{"error_rate": 0.7, "reset_rate": 0.7}', "must not exceed 1"),
        (b'{"boom": 1}', "unknown fault plan field(s) ['boom']"),
        (b'{"paths": ["/__emulator/faults"]}', "admin paths"),
        (b'{"error_statuses": [404]}', "5xx statuses"),
    ],
)
async def test_bad_plans_are_refused_with_a_reason_and_change_nothing(
    klaviyo: KlaviyoEmulator, bare: aiohttp.ClientSession, raw: bytes, detail: str
) -> None:
    klaviyo.set_faults(FaultPlan(latency_ms=1))
    status, body = await admin(bare, "PUT", klaviyo.base_url + FAULTS_PATH, raw=raw)
    assert status == 400
    assert body["error"] == "invalid_input" and detail in body["detail"]
    assert klaviyo.fault_plan == FaultPlan(latency_ms=1)


async def test_unknown_admin_paths_and_methods(klaviyo: KlaviyoEmulator, bare: aiohttp.ClientSession) -> None:
    status, body = await admin(bare, "POST", klaviyo.base_url + FAULTS_PATH, {})
    assert status == 405 and body["error"] == "method_not_allowed"
    status, body = await admin(bare, "GET", klaviyo.base_url + "/__emulator/nothing")
    assert status == 404 and body["error"] == "not_found"


async def test_admin_paths_are_never_faulted_limited_authenticated_or_logged(
    bare: aiohttp.ClientSession,
) -> None:
    emu = KlaviyoEmulator(rate_limits=True, faults=FaultPlan(error_rate=0.5, reset_rate=0.5))
    await emu.start()
    try:
        for _ in range(60):  # far beyond any burst limit, with every request due to fail
            status, state = await admin(bare, "GET", emu.base_url + FAULTS_PATH)
            assert status == 200
        assert emu.request_log == [] and emu.request_count() == 0
        assert state["stats"] == {}
    finally:
        await emu.stop()


async def test_commercetools_faults_endpoint_and_its_admin_exemption(
    ct: CommercetoolsEmulator, ct_client: CtClient, bare: aiohttp.ClientSession
) -> None:
    before = len(ct.request_log)
    status, state = await admin(bare, "PUT", ct.base_url + FAULTS_PATH, {"error_rate": 1.0})
    assert status == 200 and state["plan"]["error_rate"] == 1.0
    assert (await ct_client.call("GET", "/customers"))[0] >= 500
    status, _ = await admin(bare, "GET", ct.base_url + FAULTS_PATH)
    assert status == 200
    status, body = await admin(bare, "PUT", ct.base_url + FAULTS_PATH, {"timeout_hang_s": 0})
    assert status == 400 and "timeout_hang_s must be positive" in body["detail"]
    status, _ = await admin(bare, "DELETE", ct.base_url + FAULTS_PATH)
    assert status == 200
    assert (await ct_client.call("GET", "/customers"))[0] == 200
    paths = [p for _, p, _, _ in ct.request_log[before:]]
    assert all(not p.startswith("/__emulator") for p in paths)


async def test_commercetools_project_route_does_not_answer_for_the_admin_prefix(
    ct: CommercetoolsEmulator, bare: aiohttp.ClientSession
) -> None:
    status, body = await admin(bare, "GET", ct.base_url + "/__emulator")
    assert status == 404 and body["error"] == "not_found"


async def test_klaviyo_headers_are_not_needed_but_harmless(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession
) -> None:
    async with kl_session.get(klaviyo.base_url + FAULTS_PATH) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
    assert klaviyo.request_count() == 0
