"""Consent, suppression and data-privacy traffic validates against the spec, both directions.

Responses (success and error) are validated like ``test_klaviyo_response_schemas.py`` does; the
request bodies the emulator accepts are validated against the operation's request schema too, so the
emulator cannot drift into accepting a shape the real API would not document. The profile read back
with ``additional-fields[profile]=subscriptions`` after every kind of change (subscribed, unsubscribed,
suppressed, list-suppressed, historical) must still match ``GetProfileResponse...``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator
from tests.contract.klaviyo_connector import spec as specs

from .test_klaviyo_response_schemas import HEADERS, SpecValidator

pytestmark = pytest.mark.specs
Call = Callable[..., Any]
SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = "/api/profile-subscription-bulk-delete-jobs"
SUPPRESS = "/api/profile-suppression-bulk-create-jobs"
UNSUPPRESS = "/api/profile-suppression-bulk-delete-jobs"


@pytest.fixture(scope="module")
def spec(specs_dir: Path) -> dict[str, Any]:
    return specs.load_spec(specs_dir / "klaviyo" / "openapi-stable.json")


@pytest.fixture()
async def call(spec: dict[str, Any]) -> AsyncIterator[tuple[Call, KlaviyoEmulator]]:
    validator = SpecValidator(json.loads(json.dumps(spec)))
    emulator = KlaviyoEmulator(job_step_seconds=0.01, seed=9, rate_limits=False)
    base = await emulator.start()
    session = aiohttp.ClientSession(headers=HEADERS)

    async def _call(
        method: str,
        template: str,
        path: str | None = None,
        body: Any = None,
        expect: int = 200,
        operation: str | None = None,
        **params: str,
    ) -> Any:
        if operation is not None and expect < 300:
            assert specs.errors(spec, operation, body) == [], (operation, body)
        async with session.request(
            method, base + (path or template), json=body, params=params or None
        ) as resp:
            text = await resp.text()
            doc = json.loads(text) if text else None
            assert resp.status == expect, (method, path or template, resp.status, doc)
        validator.validate(template, method, resp.status, doc)
        return doc

    try:
        yield _call, emulator
    finally:
        await session.close()
        await emulator.stop()


def _consent(email: str, consent: str, **leaf: str) -> dict[str, Any]:
    return {
        "type": "profile",
        "attributes": {
            "email": email,
            "phone_number": "+15005550031",
            "subscriptions": {
                "email": {"marketing": {"consent": consent, **leaf}},
                "sms": {
                    "marketing": {"consent": consent, **leaf},
                    "transactional": {"consent": consent, **leaf},
                },
            },
        },
    }


async def _profile(call: Call, emulator: KlaviyoEmulator, email: str) -> None:
    [found] = emulator.find_profiles(email=email)
    await call(
        "GET",
        "/api/profiles/{id}",
        f"/api/profiles/{found['id']}",
        **{"additional-fields[profile]": "subscriptions"},
    )


async def test_subscription_requests_and_profiles_after_each_change(
    call: tuple[Call, KlaviyoEmulator],
) -> None:
    send, emulator = call
    created = await send(
        "POST", "/api/lists", body={"data": {"type": "list", "attributes": {"name": "N"}}}, expect=201
    )
    list_id = created["data"]["id"]
    relationship = {"list": {"data": {"type": "list", "id": list_id}}}
    subscribe = {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "custom_source": "crmsync",
                "historical_import": True,
                "profiles": {
                    "data": [_consent("s@example.com", "SUBSCRIBED", consented_at="2021-03-04T05:06:07Z")]
                },
            },
            "relationships": relationship,
        }
    }
    await send("POST", SUBSCRIBE, body=subscribe, expect=202, operation="bulk_subscribe_profiles")
    await _profile(send, emulator, "s@example.com")
    unsubscribe = {
        "data": {
            "type": "profile-subscription-bulk-delete-job",
            "attributes": {"profiles": {"data": [_consent("s@example.com", "UNSUBSCRIBED")]}},
            "relationships": relationship,
        }
    }
    await send("POST", UNSUBSCRIBE, body=unsubscribe, expect=202, operation="bulk_unsubscribe_profiles")
    await _profile(send, emulator, "s@example.com")  # list suppression
    global_unsubscribe = {"data": {**unsubscribe["data"]}}
    del global_unsubscribe["data"]["relationships"]
    await send(
        "POST", UNSUBSCRIBE, body=global_unsubscribe, expect=202, operation="bulk_unsubscribe_profiles"
    )
    await _profile(send, emulator, "s@example.com")  # global UNSUBSCRIBE suppression
    bad = {
        "data": {
            **subscribe["data"],
            "attributes": {**subscribe["data"]["attributes"], "historical_import": False},
        }
    }
    await send("POST", SUBSCRIBE, body=bad, expect=400)
    await send("POST", SUBSCRIBE, body={"data": {**subscribe["data"], "relationships": {}}}, expect=202)
    missing_list = {
        "data": {**subscribe["data"], "relationships": {"list": {"data": {"type": "list", "id": "Nope"}}}}
    }
    await send("POST", SUBSCRIBE, body=missing_list, expect=404)


async def test_suppression_jobs_and_their_reads(call: tuple[Call, KlaviyoEmulator]) -> None:
    send, emulator = call
    emulator.seed_profile(email="hb@example.com", suppressions=["HARD_BOUNCE"])
    body = {
        "data": {
            "type": "profile-suppression-bulk-create-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {"type": "profile", "attributes": {"email": "x@example.com"}},
                        {"type": "profile", "attributes": {"email": "hb@example.com"}},
                    ]
                }
            },
        }
    }
    job = await send("POST", SUPPRESS, body=body, expect=202, operation="bulk_suppress_profiles")
    job_id = job["data"]["id"]
    for _ in range(200):
        doc = await send("GET", SUPPRESS + "/{job_id}", f"{SUPPRESS}/{job_id}")
        if doc["data"]["attributes"]["status"] == "complete":
            break
        await asyncio.sleep(0.01)
    await send("GET", SUPPRESS, filter="equals(status,'complete')", sort="-created")
    await send("GET", SUPPRESS + "/{job_id}", f"{SUPPRESS}/01NOPE0000000000000000000A", expect=404)
    await _profile(send, emulator, "hb@example.com")  # two global suppressions
    unsuppress = {"data": {**body["data"], "type": "profile-suppression-bulk-delete-job"}}
    job = await send("POST", UNSUPPRESS, body=unsuppress, expect=202, operation="bulk_unsuppress_profiles")
    await send("GET", UNSUPPRESS + "/{job_id}", f"{UNSUPPRESS}/{job['data']['id']}")
    await send("GET", UNSUPPRESS)
    await send("POST", SUPPRESS, body={"data": {"type": body["data"]["type"], "attributes": {}}}, expect=400)


async def test_deletion_requests(call: tuple[Call, KlaviyoEmulator]) -> None:
    send, emulator = call
    pid = emulator.seed_profile(email="del@example.com")
    template = "/api/data-privacy-deletion-jobs"
    for profile in (
        {"type": "profile", "attributes": {"email": "del@example.com"}},
        {"type": "profile", "id": pid, "attributes": {}},
        {"type": "profile", "attributes": {"phone_number": "+15005550032"}},
    ):
        body = {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": profile}}}}
        await send("POST", template, body=body, expect=202, operation="request_profile_deletion")
    two = {"type": "profile", "id": pid, "attributes": {"email": "del@example.com"}}
    body = {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": two}}}}
    await send("POST", template, body=body, expect=400)
    assert len(emulator.deletion_requests) == 3
