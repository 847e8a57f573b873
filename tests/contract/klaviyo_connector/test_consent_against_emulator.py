"""KlaviyoConsent / KlaviyoLists / KlaviyoPrivacy against the Klaviyo emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from crmsync.connectors.klaviyo import (
    ConsentChange,
    KlaviyoConnector,
    KlaviyoConsent,
    KlaviyoPrivacy,
    create,
)
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.errors import NotFoundError, RateLimitedError, RecordValidationError, Recovery
from crmsync.ports import RequestRecord

API_KEY = "pk_contract_consent"
EMAIL = frozenset({"email_marketing"})
SMS = frozenset({"sms_marketing"})


def _change(n: int, channels: frozenset[str] = EMAIL, consented_at: datetime | None = None) -> ConsentChange:
    return ConsentChange(
        f"cust-{n}",
        email=f"c{n}@example.com",
        phone_number=f"+1500555{n:04d}",
        channels=channels,
        consented_at=consented_at,
    )


@pytest.fixture
async def emulator() -> AsyncIterator[KlaviyoEmulator]:
    emu = KlaviyoEmulator(rate_limits=False, job_step_seconds=0.002)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def connector(emulator: KlaviyoEmulator) -> AsyncIterator[tuple[KlaviyoConnector, list[RequestRecord]]]:
    records: list[RequestRecord] = []
    options = {
        "api_key": API_KEY,
        "base_url": emulator.base_url,
        "bulk_poll_interval_seconds": 0.01,
        "max_retries": 0,
    }
    made = create("klaviyo-consent", options, records.append)
    try:
        yield made, records
    finally:
        await made.aclose()


@pytest.fixture
def consent(connector: tuple[KlaviyoConnector, list[RequestRecord]]) -> KlaviyoConsent:
    made, _ = connector
    return KlaviyoConsent(made.client, made.settings, connection=made.name)


async def test_live_subscribe_sets_consent_without_backdating(
    consent: KlaviyoConsent, emulator: KlaviyoEmulator
) -> None:
    given = datetime(2020, 1, 1, tzinfo=UTC)
    results = await consent.subscribe(
        [_change(1), _change(2, frozenset({"email_marketing", "sms_marketing"}), consented_at=given)]
    )
    assert [(r.record_key, r.ok, r.calls) for r in results] == [("cust-1", True, 1), ("cust-2", True, 0)]
    [two] = emulator.find_profiles(email="c2@example.com")
    subs = emulator.subscriptions_of(two["id"])
    assert subs["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    # a live change is stamped by Klaviyo, not with the source's consented_at
    assert not subs["email"]["marketing"]["consent_timestamp"].startswith("2020")


async def test_historical_subscribe_backfills_consented_at_into_a_list(
    consent: KlaviyoConsent, emulator: KlaviyoEmulator
) -> None:
    list_id = await consent.ensure_list("Newsletter")
    given = datetime(2019, 6, 1, 12, 0, tzinfo=UTC)
    results = await consent.subscribe(
        [_change(1, consented_at=given), _change(2)], list_id=list_id, historical=True
    )
    assert results[0].ok is True
    # no consented_at on a historical import: refused locally, never sent
    assert results[1].ok is False and isinstance(results[1].error, RecordValidationError)
    assert results[1].error.field == "consented_at" and results[1].calls == 0
    [one] = emulator.find_profiles(email="c1@example.com")
    assert (
        emulator.subscriptions_of(one["id"])["email"]["marketing"]["consent_timestamp"] == given.isoformat()
    )
    assert one["lists"] == [list_id]
    assert emulator.find_profiles(email="c2@example.com") == []


async def test_one_profile_refused_by_klaviyo_fails_alone(
    consent: KlaviyoConsent, emulator: KlaviyoEmulator
) -> None:
    bad = ConsentChange("cust-bad", email="not-an-email", channels=EMAIL)
    results = await consent.subscribe([_change(1), bad, _change(3)])
    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert isinstance(error, RecordValidationError) and error.field == "email"
    assert error.record_key == "cust-bad" and error.recovery is Recovery.PERMANENT
    assert emulator.request_count("bulk_subscribe_profiles", 400) == 1
    assert emulator.request_count("bulk_subscribe_profiles", 202) == 1
    assert sum(r.calls for r in results) == 2
    assert len(emulator.find_profiles()) == 2


async def test_requests_are_packed_to_the_documented_limits(
    consent: KlaviyoConsent, emulator: KlaviyoEmulator
) -> None:
    changes = [_change(n) for n in range(1001)]
    assert all(r.ok for r in await consent.subscribe(changes))
    assert emulator.request_count("bulk_subscribe_profiles", 202) == 2  # 1000 + 1
    results = await consent.unsubscribe(changes[:150])
    assert all(r.ok for r in results)
    assert emulator.request_count("bulk_unsubscribe_profiles", 202) == 2  # 100 + 50
    assert sum(r.calls for r in results) == 2
    [last] = emulator.find_profiles(email="c149@example.com")
    assert last["subscriptions"]["email_marketing"] == "UNSUBSCRIBED"


async def test_unsubscribe_from_a_list_and_an_unknown_list(
    consent: KlaviyoConsent, emulator: KlaviyoEmulator
) -> None:
    list_id = await consent.ensure_list("Promotions")
    member = emulator.seed_profile(
        email="c1@example.com", consent={"email_marketing": "SUBSCRIBED"}, lists=[list_id]
    )
    assert (await consent.unsubscribe([_change(1)], list_id=list_id))[0].ok
    email = emulator.subscriptions_of(member)["email"]["marketing"]
    assert email["consent"] == "SUBSCRIBED" and email["list_suppressions"][0]["list_id"] == list_id
    [result] = await consent.unsubscribe([_change(1)], list_id="NoSuch")
    assert result.ok is False and isinstance(result.error, NotFoundError)
    assert result.error.recovery is Recovery.PERMANENT


async def test_suppress_and_unsuppress_wait_for_their_jobs(
    consent: KlaviyoConsent, emulator: KlaviyoEmulator
) -> None:
    emulator.seed_profile(email="c2@example.com", suppressions=["HARD_BOUNCE"])
    results = await consent.suppress([_change(n) for n in range(1, 4)])
    assert [r.ok for r in results] == [True, True, True]
    jobs = list(emulator.suppression_jobs.values())
    assert [j.status for j in jobs] == ["complete"]  # polled to completion before returning
    assert emulator.suppressed["c2@example.com"] == ("HARD_BOUNCE", "USER_SUPPRESSED")
    results = await consent.unsuppress([_change(n) for n in range(1, 4)])
    assert all(r.ok for r in results)
    assert emulator.suppressed == {"c2@example.com": ("HARD_BOUNCE",)}
    [refused] = await consent.suppress([ConsentChange("no-email", phone_number="+15005550001")])
    assert refused.ok is False and isinstance(refused.error, RecordValidationError)
    assert refused.error.field == "email"


async def test_ensure_list_finds_or_creates_once_and_add_to_list_chunks(
    consent: KlaviyoConsent,
    connector: tuple[KlaviyoConnector, list[RequestRecord]],
    emulator: KlaviyoEmulator,
) -> None:
    existing = await consent.ensure_list("VIP")
    other = KlaviyoConsent(connector[0].client)  # a fresh cache finds the list by name
    assert await other.ensure_list("VIP") == existing
    names = await asyncio.gather(*(other.ensure_list("Fresh") for _ in range(5)))
    assert len(set(names)) == 1
    assert emulator.request_count("create_list", 201) == 2
    assert sorted(k.name for k in emulator.lists.values()) == ["Fresh", "VIP"]
    ids = [emulator.seed_profile(email=f"m{n}@example.com") for n in range(1500)]
    results = await consent.add_to_list(existing, [*ids, ids[0]])
    assert len(results) == 1501 and all(r.ok for r in results)
    assert emulator.request_count("add_profiles_to_list", 204) == 2  # 1000 + 500
    assert sum(r.calls for r in results) == 2
    assert len(emulator.lists[existing].members) == 1500
    [missing] = await consent.add_to_list(existing, ["01NOPE0000000000000000000A"])
    assert missing.ok is False and isinstance(missing.error, NotFoundError)


async def test_request_deletion_by_each_identifier(
    connector: tuple[KlaviyoConnector, list[RequestRecord]], emulator: KlaviyoEmulator
) -> None:
    made, records = connector
    privacy = KlaviyoPrivacy(made.client, connection=made.name)
    by_id = emulator.seed_profile(email="a@example.com")
    emulator.seed_profile(email="b@example.com")
    emulator.seed_profile(phone_number="+15005550009")
    first = await privacy.request_deletion(profile_id=by_id)
    assert (first.ok, first.target_id, first.record_key, first.calls) == (True, by_id, by_id, 1)
    second = await privacy.request_deletion(email="b@example.com", correlation_id="corr-9")
    assert second.ok and second.record_key.startswith("email#") and "b@example" not in second.record_key
    assert (await privacy.request_deletion(phone_number="+15005550009")).ok
    assert len(emulator.profiles) == 0
    assert [r["identifier"] for r in emulator.deletion_requests] == ["id", "email", "phone_number"]
    assert [(r.operation, r.kind) for r in records] == [("request_profile_deletion", "erasure")] * 3
    assert records[1].correlation_id == "corr-9"
    refused = await privacy.request_deletion(email="a@example.com", phone_number="+15005550009")
    assert refused.ok is False and refused.calls == 0 and isinstance(refused.error, RecordValidationError)
    assert len(emulator.deletion_requests) == 3


async def test_request_deletion_throttled_comes_back_retryable(
    connector: tuple[KlaviyoConnector, list[RequestRecord]], emulator: KlaviyoEmulator
) -> None:
    made, _ = connector  # max_retries=0: the 429 is returned instead of waited out
    emulator.set_rate_limits(True)
    privacy = KlaviyoPrivacy(made.client, connection=made.name)
    since = datetime.now(UTC) - timedelta(seconds=1)
    results = [await privacy.request_deletion(email=f"t{n}@example.com") for n in range(7)]
    throttled = [r for r in results if not r.ok]
    assert throttled and all(isinstance(r.error, RateLimitedError) for r in throttled)
    assert throttled[0].error is not None and throttled[0].error.recovery is Recovery.RETRY_AFTER
    assert all(r["requested_at"] >= since.replace(microsecond=0) for r in emulator.deletion_requests)
