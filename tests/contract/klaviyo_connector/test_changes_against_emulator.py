"""KlaviyoChanges polls "profiles updated since" the emulator without gaps or duplicates."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from crmsync.connectors.klaviyo import (
    ConsentChange,
    KlaviyoChanges,
    KlaviyoConnector,
    KlaviyoConsent,
    KlaviyoPrivacy,
    create,
)
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.errors import PermanentError

LONG_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)


@pytest.fixture
async def emulator() -> AsyncIterator[KlaviyoEmulator]:
    emu = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.002)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def connector(emulator: KlaviyoEmulator) -> AsyncIterator[KlaviyoConnector]:
    made = create("klaviyo-changes", {"api_key": "pk_contract_changes", "base_url": emulator.base_url})
    try:
        yield made
    finally:
        await made.aclose()


async def _drain(changes: KlaviyoChanges, cursor: str | None, page_size: int = 100) -> tuple[list[str], str]:
    """Poll until a poll returns nothing; the ids returned, in order."""
    ids: list[str] = []
    while True:
        found, cursor = await changes.profiles_updated_since(cursor, page_size=page_size)
        if not found:
            return ids, cursor
        ids.extend(p["id"] for p in found)


async def test_first_poll_reads_everything_then_only_changes(
    emulator: KlaviyoEmulator, connector: KlaviyoConnector
) -> None:
    changes = KlaviyoChanges(connector.client, connection=connector.name)
    old = emulator.seed_profile(email="old@example.com", external_id="c-old", updated_at=LONG_AGO)
    new = emulator.seed_profile(email="new@example.com", external_id="c-new")
    found, cursor = await changes.profiles_updated_since(None)
    assert [p["id"] for p in found] == [old, new]  # oldest change first
    attributes = found[1]["attributes"]
    assert attributes["external_id"] == "c-new" and attributes["email"] == "new@example.com"
    assert attributes["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert attributes["updated"] is not None
    # nothing changed: nothing comes back, even though the last second is read again
    assert (await changes.profiles_updated_since(cursor))[0] == []
    # a consent change made in Klaviyo comes back once, with the new consent
    emulator.change_consent(old, "email_marketing", "UNSUBSCRIBED")
    found, cursor = await changes.profiles_updated_since(cursor)
    assert [p["id"] for p in found] == [old]
    marketing = found[0]["attributes"]["subscriptions"]["email"]["marketing"]
    assert (marketing["consent"], marketing["method"]) == ("UNSUBSCRIBED", "PREFERENCE_PAGE")
    assert (await changes.profiles_updated_since(cursor))[0] == []


async def test_two_changes_in_one_second_are_both_seen(
    emulator: KlaviyoEmulator, connector: KlaviyoConnector
) -> None:
    changes = KlaviyoChanges(connector.client)
    pid = emulator.seed_profile(email="twice@example.com")
    found, cursor = await changes.profiles_updated_since(None)
    assert [p["id"] for p in found] == [pid]
    # a subscription through the API in (very likely) the same second as the first read
    consent = KlaviyoConsent(connector.client)
    assert (await consent.subscribe([ConsentChange("k", email="twice@example.com")]))[0].ok
    found, cursor = await changes.profiles_updated_since(cursor)
    assert [p["id"] for p in found] == [pid]
    assert found[0]["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    emulator.suppress_email("twice@example.com", "HARD_BOUNCE")
    found, cursor = await changes.profiles_updated_since(cursor)
    assert [p["id"] for p in found] == [pid]
    assert (await changes.profiles_updated_since(cursor))[0] == []


async def test_more_profiles_in_one_second_than_a_page_neither_stall_nor_repeat(
    emulator: KlaviyoEmulator, connector: KlaviyoConnector
) -> None:
    changes = KlaviyoChanges(connector.client)
    ids = [emulator.seed_profile(email=f"p{n}@example.com", updated_at=LONG_AGO) for n in range(25)]
    seen, cursor = await _drain(changes, None, page_size=10)
    assert seen == ids  # every profile once, in (updated, id) order, across several polls
    later = emulator.seed_profile(email="later@example.com")
    again, cursor = await _drain(changes, cursor, page_size=10)
    assert again == [later]
    # the cursor stays small: only the overlap window's profiles are remembered
    assert sum(len(v) for v in json.loads(cursor)["seen"].values()) == 1


async def test_cursor_at_starts_from_an_instant_and_bad_cursors_are_refused(
    emulator: KlaviyoEmulator, connector: KlaviyoConnector
) -> None:
    changes = KlaviyoChanges(connector.client)
    emulator.seed_profile(email="before@example.com", updated_at=LONG_AGO)
    recent = emulator.seed_profile(email="recent@example.com", updated_at=LONG_AGO + timedelta(days=10))
    found, _ = await changes.profiles_updated_since(changes.cursor_at(LONG_AGO + timedelta(days=10)))
    assert [p["id"] for p in found] == [recent]
    with pytest.raises(PermanentError):
        await changes.profiles_updated_since("not a cursor")
    with pytest.raises(ValueError):
        await changes.profiles_updated_since(None, page_size=101)


async def test_deleted_profiles_simply_stop_appearing(
    emulator: KlaviyoEmulator, connector: KlaviyoConnector
) -> None:
    changes = KlaviyoChanges(connector.client)
    gone = emulator.seed_profile(email="gone@example.com", updated_at=LONG_AGO)
    kept = emulator.seed_profile(email="kept@example.com", updated_at=LONG_AGO)
    assert (await KlaviyoPrivacy(connector.client).request_deletion(profile_id=gone)).ok
    found, _ = await changes.profiles_updated_since(None)
    assert [p["id"] for p in found] == [kept]
