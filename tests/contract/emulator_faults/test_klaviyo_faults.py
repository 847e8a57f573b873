"""Fault injection on the Klaviyo emulator, over real HTTP: wire formats, rates, storms, after-effects."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import aiohttp
import pytest

from crmsync.emulators.faults import NO_RESPONSE, FaultPlan, parse_fault_spec
from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import KLAVIYO_HEADERS, profile_import

pytestmark = pytest.mark.asyncio


async def fetch(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = None, **kwargs: Any
) -> tuple[int, Any, Any]:
    data = json.dumps(body).encode() if body is not None else None
    async with session.request(method, url, data=data, **kwargs) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text else None), response.headers


async def test_injected_5xx_is_a_jsonapi_error_document(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession
) -> None:
    klaviyo.set_faults(FaultPlan(error_rate=1.0, error_statuses=(503,)))
    status, doc, headers = await fetch(
        kl_session, "POST", klaviyo.base_url + "/api/profile-import", profile_import("a@example.com")
    )
    assert status == 503
    assert headers["Content-Type"].startswith("application/vnd.api+json")
    [error] = doc["errors"]
    assert error["status"] == 503 and error["code"] == "error"
    assert set(error) == {"id", "status", "code", "title", "detail", "source", "links", "meta"}
    assert "RateLimit-Limit" not in headers
    assert klaviyo.find_profiles(email="a@example.com") == []  # never applied
    assert [(r.operation_id, r.status) for r in klaviyo.request_log] == [("create_or_update_profile", 503)]
    assert klaviyo.fault_stats == {"requests": 1, "faulted": 1, "error": 1, "error_503": 1}


async def test_injected_429_is_indistinguishable_from_the_rate_limiters() -> None:
    emu = KlaviyoEmulator(rate_limits=True)
    await emu.start()
    try:
        async with aiohttp.ClientSession(headers=KLAVIYO_HEADERS) as session:
            url = emu.base_url + "/api/metrics"  # burst limit 10/s
            real: tuple[int, Any, Any] | None = None
            for _ in range(40):
                real = await fetch(session, "GET", url)
                if real[0] == 429:
                    break
            assert real is not None and real[0] == 429, "the limiter never throttled"
            retry_after = int(real[2]["Retry-After"])
            emu.set_faults(FaultPlan(throttle_rate=1.0, retry_after_s=retry_after))
            injected = await fetch(session, "GET", url)
    finally:
        await emu.stop()
    assert injected[0] == 429

    def comparable(headers: Any) -> dict[str, str]:
        return {k: v for k, v in headers.items() if k not in ("Date",)}

    assert comparable(injected[2]) == comparable(real[2])
    for doc in (real[1], injected[1]):
        doc["errors"][0].pop("id")
    assert injected[1] == real[1]
    assert injected[1]["errors"][0]["code"] == "throttled"


async def test_injected_429s_consume_no_rate_limit_quota() -> None:
    emu = KlaviyoEmulator(rate_limits=True, faults=FaultPlan(throttle_rate=1.0))
    await emu.start()
    try:
        async with aiohttp.ClientSession(headers=KLAVIYO_HEADERS) as session:
            url = emu.base_url + "/api/metrics"  # 10/s burst, 150/min steady
            statuses = await asyncio.gather(*(fetch(session, "GET", url) for _ in range(160)))
            assert {s for s, _, _ in statuses} == {429}
            emu.clear_faults()
            status, _, headers = await fetch(session, "GET", url)
    finally:
        await emu.stop()
    assert status == 200  # had the faults counted, the 150/min window would be exhausted
    assert headers["RateLimit-Remaining"] == "9"


async def test_rates_are_honoured_and_seeded(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession
) -> None:
    klaviyo.set_faults(parse_fault_spec("error=0.2,throttle=0.1,seed=11"))
    url = klaviyo.base_url + "/api/profiles"
    sem = asyncio.Semaphore(32)

    async def one() -> int:
        async with sem, kl_session.get(url) as response:
            await response.read()
            return response.status

    total = 2000
    statuses = Counter(await asyncio.gather(*(one() for _ in range(total))))
    errors = sum(n for s, n in statuses.items() if s >= 500)
    assert 0.15 * total <= errors <= 0.25 * total
    assert 0.07 * total <= statuses[429] <= 0.13 * total
    assert set(statuses) <= {200, 429, 500, 502, 503}
    assert all(statuses[s] > 0 for s in (500, 502, 503))
    stats = klaviyo.fault_stats
    assert stats["requests"] == total
    assert stats["error"] == errors and stats["throttle"] == statuses[429]
    assert stats["passed"] == statuses[200]

    # the same seed gives the same decisions again
    klaviyo.set_faults(parse_fault_spec("error=0.2,throttle=0.1,seed=11"))
    first = [await one() for _ in range(50)]
    klaviyo.set_faults(parse_fault_spec("error=0.2,throttle=0.1,seed=11"))
    assert [await one() for _ in range(50)] == first


async def test_reset_drops_the_connection_without_a_response(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession
) -> None:
    klaviyo.set_faults(FaultPlan(reset_rate=1.0))
    url = klaviyo.base_url + "/api/profile-import"
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(kl_session, "POST", url, profile_import("r@example.com"))
    assert klaviyo.find_profiles(email="r@example.com") == []
    assert [r.status for r in klaviyo.request_log] == [NO_RESPONSE]
    klaviyo.clear_faults()
    status, _, _ = await fetch(kl_session, "POST", url, profile_import("r@example.com"))
    assert status == 201  # still serving


async def test_timeout_hangs_until_the_client_gives_up(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession
) -> None:
    klaviyo.set_faults(FaultPlan(timeout_rate=1.0, timeout_hang_s=10))
    url = klaviyo.base_url + "/api/profile-import"
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await fetch(
            kl_session, "POST", url, profile_import("t@example.com"), timeout=aiohttp.ClientTimeout(total=0.2)
        )
    assert time.monotonic() - started < 2
    klaviyo.clear_faults()
    started = time.monotonic()
    status, _, _ = await fetch(kl_session, "POST", url, profile_import("t@example.com"))
    assert status == 201 and time.monotonic() - started < 1
    assert klaviyo.fault_stats["timeout"] == 1


async def test_timeout_closes_without_a_response_after_the_hang(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession
) -> None:
    klaviyo.set_faults(FaultPlan(timeout_rate=1.0, timeout_hang_s=0.15))
    started = time.monotonic()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fetch(kl_session, "POST", klaviyo.base_url + "/api/profile-import", profile_import("h@x.com"))
    assert time.monotonic() - started >= 0.14


async def test_after_effect_applies_the_import_although_the_client_saw_a_503(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession
) -> None:
    klaviyo.set_faults(FaultPlan(error_rate=1.0, error_statuses=(503,), after_effect_rate=1.0))
    url = klaviyo.base_url + "/api/profile-import"
    status, doc, _ = await fetch(
        kl_session, "POST", url, profile_import("late@example.com", first_name="Ada")
    )
    assert status == 503 and doc["errors"][0]["code"] == "error"
    [profile] = klaviyo.find_profiles(email="late@example.com")
    assert profile["first_name"] == "Ada"
    assert [r.status for r in klaviyo.request_log] == [201]  # the emulator did answer 201
    assert klaviyo.fault_stats["after_effect"] == 1


async def test_after_effect_reset_applies_the_import(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession
) -> None:
    klaviyo.set_faults(FaultPlan(reset_rate=1.0, after_effect_rate=1.0))
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(
            kl_session, "POST", klaviyo.base_url + "/api/profile-import", profile_import("gone@example.com")
        )
    assert len(klaviyo.find_profiles(email="gone@example.com")) == 1


async def test_storms_throttle_everything_for_their_duration(
    klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession
) -> None:
    klaviyo.set_faults(FaultPlan(storm_every_s=0.6, storm_seconds=0.3))
    started = time.monotonic()
    url = klaviyo.base_url + "/api/profiles"

    async def at(offset: float) -> tuple[int, Any, Any]:
        await asyncio.sleep(max(0.0, started + offset - time.monotonic()))
        return await fetch(kl_session, "GET", url)

    assert (await at(0.05))[0] == 200  # before the first storm
    status, doc, headers = await at(0.70)  # storm 0.6 .. 0.9
    assert status == 429 and doc["errors"][0]["code"] == "throttled"
    assert headers["Retry-After"] == "1"
    assert (await at(1.05))[0] == 200  # calm 0.9 .. 1.2
    assert (await at(1.30))[0] == 429  # next storm 1.2 .. 1.5
    assert klaviyo.fault_stats["storm"] == 2


async def test_latency_is_added(klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession) -> None:
    klaviyo.set_faults(FaultPlan(latency_ms=120, latency_jitter_ms=20))
    started = time.monotonic()
    status, _, _ = await fetch(kl_session, "GET", klaviyo.base_url + "/api/profiles")
    assert status == 200 and time.monotonic() - started >= 0.1
    assert klaviyo.fault_stats["delayed"] == 1


async def test_paths_narrow_the_scope(klaviyo: KlaviyoEmulator, kl_session: aiohttp.ClientSession) -> None:
    klaviyo.set_faults(FaultPlan(error_rate=1.0, paths=("/api/events",)))
    assert (await fetch(kl_session, "GET", klaviyo.base_url + "/api/profiles"))[0] == 200
    assert (await fetch(kl_session, "GET", klaviyo.base_url + "/api/events"))[0] >= 500


async def test_faults_set_at_start_up() -> None:
    emu = KlaviyoEmulator(rate_limits=False, faults=parse_fault_spec("error=1,statuses=502"))
    await emu.start()
    try:
        assert emu.fault_plan.error_statuses == (502,)
        async with aiohttp.ClientSession(headers=KLAVIYO_HEADERS) as session:
            assert (await fetch(session, "GET", emu.base_url + "/api/profiles"))[0] == 502
            emu.clear_faults()
            assert (await fetch(session, "GET", emu.base_url + "/api/profiles"))[0] == 200
    finally:
        await emu.stop()


async def test_stop_does_not_wait_for_a_hanging_request() -> None:
    emu = KlaviyoEmulator(rate_limits=False, faults=FaultPlan(timeout_rate=1.0, timeout_hang_s=30))
    await emu.start()
    async with aiohttp.ClientSession(headers=KLAVIYO_HEADERS) as session:
        pending = asyncio.create_task(fetch(session, "GET", emu.base_url + "/api/profiles"))
        for _ in range(500):  # until the request is in the emulator's hands (a busy CI may be slow)
            if emu.fault_stats.get("timeout", 0) >= 1:
                break
            await asyncio.sleep(0.01)
        assert emu.fault_stats.get("timeout", 0) == 1
        started = time.monotonic()
        await emu.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(aiohttp.ClientConnectionError):
            await pending
