"""Per-endpoint, per-key fixed-window rate limits: headers, 429 + Retry-After, switches, the table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.emulators.klaviyo.ratelimit import Limits, RateLimiter, load_table

from ._support import HEADERS, Client, only_error

ROOT = Path(__file__).resolve().parents[3]


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _list_body(name: str) -> dict:
    return {"data": {"type": "list", "attributes": {"name": name}}}


async def test_successful_responses_carry_ratelimit_headers(http: Client) -> None:
    status, _, headers = await http.get("/api/profiles")
    assert status == 200
    assert headers["RateLimit-Limit"] == "75"
    assert headers["RateLimit-Remaining"] == "74"
    assert 1 <= int(headers["RateLimit-Reset"]) <= 1
    status, _, headers = await http.get("/api/profiles/unknown")
    assert status == 404 and "RateLimit-Remaining" in headers


async def test_exceeding_burst_gives_429_with_retry_after_and_throttled(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    # create_list: 10/s burst. 21 quick calls span at most two 1 s windows, so at least one is refused.
    results = [await http.post("/api/lists", _list_body(f"l{i}")) for i in range(21)]
    refused = [(doc, headers) for status, doc, headers in results if status == 429]
    assert refused, [status for status, _, _ in results]
    doc, headers = refused[0]
    assert int(headers["Retry-After"]) >= 1
    assert "RateLimit-Remaining" not in headers
    error = only_error(doc)
    assert error["code"] == "throttled"
    assert error["detail"].startswith("Request was throttled. Expected available in ")
    assert emulator.request_count("create_list", 429) == len(refused)
    assert len(emulator.lists) == 21 - len(refused)  # a refused call changes nothing


async def test_limits_are_per_api_key(emulator: KlaviyoEmulator) -> None:
    async def post(session: aiohttp.ClientSession, name: str) -> tuple[int, str | None]:
        async with session.post(emulator.base_url + "/api/lists", json=_list_body(name)) as resp:
            return resp.status, resp.headers.get("RateLimit-Remaining")

    one = {**HEADERS, "Authorization": "Klaviyo-API-Key pk_account_one"}
    two = {**HEADERS, "Authorization": "Klaviyo-API-Key pk_account_two"}
    async with aiohttp.ClientSession(headers=one) as first, aiohttp.ClientSession(headers=two) as second:
        statuses = [(await post(first, f"a{i}"))[0] for i in range(21)]
        assert 429 in statuses
        # the other account's bucket is untouched: its first call sees a fresh window
        assert await post(second, "b0") == (201, "9")


async def test_rate_limits_can_be_disabled(http: Client, emulator: KlaviyoEmulator) -> None:
    emulator.set_rate_limits(False)
    results = [await http.post("/api/lists", _list_body(f"l{i}")) for i in range(25)]
    assert {status for status, _, _ in results} == {201}
    assert "RateLimit-Limit" not in results[0][2]
    off = KlaviyoEmulator(rate_limits=False)
    assert off.rate_limits is False


def test_fixed_windows_burst_then_steady_with_fake_clock() -> None:
    clock = FakeClock(960.0)  # windows are aligned: [960, 961) for burst, [960, 1020) for steady
    limiter = RateLimiter({"op": Limits("op", "GET", "/x", ((1.0, 3), (60.0, 5)))}, clock=clock)
    decisions = [limiter.hit("k", "op") for _ in range(4)]
    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    assert decisions[0] is not None and decisions[0].remaining == 2 and decisions[0].limit == 3
    assert decisions[3] is not None and decisions[3].retry_after == 1
    clock.now = 961.2  # next burst window; the steady window still counts 3 of 5
    second = [limiter.hit("k", "op") for _ in range(3)]
    assert [d.allowed for d in second if d] == [True, True, False]
    refused = second[2]
    assert refused is not None and refused.retry_after == 59  # until the minute window rolls over
    assert limiter.hit("other-key", "op").allowed  # type: ignore[union-attr]
    clock.now = 1020.0
    assert limiter.hit("k", "op").allowed  # type: ignore[union-attr]
    assert limiter.hit("k", "unknown-op") is None


def test_reported_window_is_the_tightest() -> None:
    clock = FakeClock(0.5)
    limiter = RateLimiter({"op": Limits("op", "GET", "/x", ((1.0, 10), (60.0, 3)))}, clock=clock)
    decision = limiter.hit("k", "op")
    assert decision is not None
    assert (decision.limit, decision.remaining, decision.reset) == (3, 2, 60)
    assert decision.headers() == {"RateLimit-Limit": "3", "RateLimit-Remaining": "2", "RateLimit-Reset": "60"}


def test_packaged_table_has_the_endpoints_the_emulator_serves() -> None:
    table = load_table()
    assert (table["create_profile"].method, table["create_profile"].path) == ("POST", "/api/profiles")
    assert table["create_profile"].windows == ((1.0, 75), (60.0, 750))
    assert table["create_event"].windows == ((1.0, 350), (60.0, 3500))
    assert table["bulk_import_profiles"].windows == ((1.0, 10), (60.0, 150))
    assert table["create_list"].windows == ((1.0, 10), (60.0, 150), (86400.0, 150))


def _extract_script() -> ModuleType:
    path = ROOT / "scripts" / "extract_klaviyo_ratelimits.py"
    spec = importlib.util.spec_from_file_location("extract_klaviyo_ratelimits", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.specs
def test_packaged_json_equals_what_the_script_extracts_from_the_spec(specs_dir: Path) -> None:
    script = _extract_script()
    spec = json.loads((specs_dir / "klaviyo" / "openapi-stable.json").read_text(encoding="utf-8"))
    packaged = json.loads(
        (ROOT / "src/crmsync/emulators/klaviyo/ratelimits.json").read_text(encoding="utf-8")
    )
    assert packaged == script.extract(spec)
    assert packaged["revision"] == spec["info"]["version"]


def test_extract_rejects_a_malformed_rate() -> None:
    script = _extract_script()
    spec = {
        "info": {"version": "x"},
        "paths": {
            "/api/a": {"get": {"operationId": "a", "x-klaviyo-ratelimit": {"burst": "75/m", "steady": "1/m"}}}
        },
    }
    with pytest.raises(ValueError, match="burst"):
        script.extract(spec)
