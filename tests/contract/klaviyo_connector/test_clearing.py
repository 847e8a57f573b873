"""Fields delivered before and absent now are cleared in Klaviyo, not left stale (Projection.clear)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.connectors.klaviyo import create
from crmsync.connectors.klaviyo.resource import profile_resource
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.ports import Projection

from .spec import errors, load_spec


@pytest.fixture
async def emulator() -> AsyncIterator[KlaviyoEmulator]:
    emu = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.002)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


def _attrs(emu: KlaviyoEmulator, external_id: str) -> dict[str, Any]:
    [profile] = emu.find_profiles(external_id=external_id)
    return profile["attributes"] if "attributes" in profile else profile


FULL = {
    "external_id": "c1",
    "email": "c1@example.com",
    "first_name": "Ada",
    "title": "Dr",
    "location": {"city": "Berlin", "zip": "10117", "country": "DE"},
    "properties": {"loyaltyTier": "gold", "newsletterOptIn": True},
}
LESS = {
    "external_id": "c1",
    "email": "c1@example.com",
    "first_name": "Ada",
    "location": {"city": "Berlin", "country": "DE"},
    "properties": {"newsletterOptIn": True},
}
CLEAR = ["title", "location.zip", "properties.loyaltyTier"]


def test_resource_object_carries_nulls_and_unset() -> None:
    res = profile_resource(Projection("customer", "c1", LESS, clear=CLEAR))
    assert res["attributes"]["title"] is None
    assert res["attributes"]["location"] == {"city": "Berlin", "country": "DE", "zip": None}
    assert res["meta"] == {"patch_properties": {"unset": ["loyaltyTier"]}}
    plain = profile_resource(Projection("customer", "c1", LESS))
    assert "meta" not in plain and "title" not in plain["attributes"]


@pytest.mark.parametrize("bulk", [False, True], ids=["profile-import", "bulk-job"])
async def test_removed_fields_are_cleared(emulator: KlaviyoEmulator, bulk: bool) -> None:
    conn = create(
        "k", {"api_key": "pk_clear", "base_url": emulator.base_url, "bulk_poll_interval_seconds": 0.01}
    )
    try:
        first = Projection("customer", "c1", FULL)
        second = Projection("customer", "c1", LESS, clear=CLEAR)
        if bulk:
            assert (await conn.bulk_upsert([first]))[0].ok
            assert (await conn.bulk_upsert([second]))[0].ok
        else:
            assert (await conn.upsert(first)).ok
            assert (await conn.upsert(second)).ok
        attrs = _attrs(emulator, "c1")
        assert attrs.get("title") is None
        assert (attrs.get("location") or {}).get("zip") is None
        assert (attrs.get("location") or {}).get("city") == "Berlin"
        assert "loyaltyTier" not in (attrs.get("properties") or {})
        assert (attrs.get("properties") or {}).get("newsletterOptIn") is True
    finally:
        await conn.aclose()


@pytest.mark.specs
def test_clearing_body_matches_the_spec(specs_dir: Path) -> None:
    spec = load_spec(specs_dir / "klaviyo" / "openapi-stable.json")
    body = {"data": profile_resource(Projection("customer", "c1", LESS, clear=CLEAR))}
    assert errors(spec, "create_or_update_profile", body) == []
