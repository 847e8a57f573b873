"""Bulk subscribe / unsubscribe: 202, consent visible through additional-fields, validation, lists."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._consent_support import ENTRY, SUBSCRIBE, UNSUBSCRIBE, entry, list_doc, subscribe_doc, unsubscribe_doc
from ._support import HEADERS, Client, only_error

LAST_YEAR = datetime.now(UTC).replace(microsecond=0) - timedelta(days=365)


async def _subscriptions(http: Client, profile_id: str) -> dict[str, Any]:
    status, doc, _ = await http.get(
        f"/api/profiles/{profile_id}", **{"additional-fields[profile]": "subscriptions"}
    )
    assert status == 200, doc
    return dict(doc["data"]["attributes"]["subscriptions"])


async def _subscriptions_by_email(http: Client, email: str) -> dict[str, Any]:
    status, doc, _ = await http.get(
        "/api/profiles",
        filter=f'equals(email,"{email}")',
        **{"additional-fields[profile]": "subscriptions"},
    )
    assert status == 200 and len(doc["data"]) == 1, doc
    return dict(doc["data"][0]["attributes"]["subscriptions"])


async def _pointer(http: Client, path: str, body: dict[str, Any], status: int = 400) -> str:
    got, doc, _ = await http.post(path, body)
    assert got == status, doc
    return str(only_error(doc)["source"].get("pointer"))


async def test_subscribe_creates_profiles_and_sets_consent_per_channel(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    status, doc, _ = await http.post(
        SUBSCRIBE,
        subscribe_doc(
            [
                entry(
                    email="ann@example.com",
                    phone_number="+15005550006",
                    channels=("email_marketing", "sms_marketing"),
                ),
                entry(phone_number="+15005550007", channels=("sms_transactional",)),
            ],
            custom_source="Checkout",
        ),
    )
    assert (status, doc) == (202, None)
    [ann] = emulator.find_profiles(email="ann@example.com")
    assert ann["phone_number"] == "+15005550006"
    subs = await _subscriptions(http, ann["id"])
    email = subs["email"]["marketing"]
    assert email["consent"] == "SUBSCRIBED" and email["can_receive_email_marketing"] is True
    assert (email["method"], email["custom_method_detail"], email["double_optin"]) == (
        "API",
        "Checkout",
        False,
    )
    assert email["consent_timestamp"] == email["last_updated"] and email["consent_timestamp"] is not None
    assert email["suppression"] == [] and email["list_suppressions"] == []
    assert subs["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["sms"]["marketing"]["can_receive_sms_marketing"] is True
    assert subs["sms"]["transactional"]["consent"] == "NEVER_SUBSCRIBED"
    [other] = emulator.find_profiles(phone_number="+15005550007")
    assert emulator.subscriptions_of(other["id"])["sms"]["transactional"]["consent"] == "SUBSCRIBED"
    assert emulator.profiles[other["id"]]["subscriptions"]["email_marketing"] == "NEVER_SUBSCRIBED"
    # the collection renders the same object, only when asked for
    status, doc, _ = await http.get(
        "/api/profiles",
        filter='equals(email,"ann@example.com")',
        **{"additional-fields[profile]": "subscriptions"},
    )
    assert doc["data"][0]["attributes"]["subscriptions"] == subs
    status, doc, _ = await http.get("/api/profiles", filter='equals(email,"ann@example.com")')
    assert "subscriptions" not in doc["data"][0]["attributes"]


async def test_subscribe_matches_existing_profiles_by_id_or_identifier_and_bumps_updated(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    by_email = emulator.seed_profile(email="old@example.com", external_id="c-1", updated_at=LAST_YEAR)
    by_id = emulator.seed_profile(email="id@example.com", updated_at=LAST_YEAR)
    body = subscribe_doc([entry(email="OLD@example.com"), entry(profile_id=by_id)])
    assert (await http.post(SUBSCRIBE, body))[0] == 202
    assert len(emulator.profiles) == 2
    for pid in (by_email, by_id):
        assert emulator.profiles[pid]["subscriptions"]["email_marketing"] == "SUBSCRIBED"
        assert emulator.profiles[pid]["updated"] > LAST_YEAR
        assert emulator.profiles[pid]["created"] == LAST_YEAR
    status, doc, _ = await http.get(
        "/api/profiles",
        filter=f"greater-than(updated,{(LAST_YEAR + timedelta(days=1)):%Y-%m-%dT%H:%M:%SZ})",
        sort="updated",
    )
    assert status == 200
    assert sorted(p["id"] for p in doc["data"]) == sorted([by_email, by_id])


async def test_historical_import_backdates_consent_and_enforces_consented_at(http: Client) -> None:
    past = "2020-05-01T10:00:00+00:00"
    body = subscribe_doc([entry(email="h@example.com", consented_at=past)], historical=True)
    assert (await http.post(SUBSCRIBE, body))[0] == 202
    email = (await _subscriptions_by_email(http, "h@example.com"))["email"]["marketing"]
    assert email["consent_timestamp"] == past and email["last_updated"] != past
    # consented_at is refused without historical_import, required with it, and must be in the past
    leaf = f"{ENTRY}/0/attributes/subscriptions/email/marketing/consented_at"
    assert (
        await _pointer(http, SUBSCRIBE, subscribe_doc([entry(email="x@example.com", consented_at=past)]))
        == leaf
    )
    no_time = subscribe_doc([entry(email="x@example.com")], historical=True)
    got, doc, _ = await http.post(SUBSCRIBE, no_time)
    assert got == 400 and only_error(doc)["source"]["pointer"] == leaf
    assert "does not have a valid consented at timestamp" in only_error(doc)["detail"]
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert (
        await _pointer(
            http,
            SUBSCRIBE,
            subscribe_doc([entry(email="x@example.com", consented_at=future)], historical=True),
        )
        == leaf
    )
    ancient = subscribe_doc(
        [entry(email="a@example.com", consented_at="1970-01-01T00:00:00Z")], historical=True
    )
    assert (await http.post(SUBSCRIBE, ancient))[0] == 202
    # "The oldest consent record that can be set in Klaviyo is January 1, 1990"
    email = (await _subscriptions_by_email(http, "a@example.com"))["email"]["marketing"]
    assert email["consent_timestamp"] == "1990-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (subscribe_doc([entry(phone_number="+15005550006")]), f"{ENTRY}/0/attributes/email"),
        (
            subscribe_doc([entry(email="a@example.com", channels=("sms_marketing",))]),
            f"{ENTRY}/0/attributes/phone_number",
        ),
        (subscribe_doc([entry(email="not-an-email")]), f"{ENTRY}/0/attributes/email"),
        (
            subscribe_doc([entry(email="a@example.com", consent="UNSUBSCRIBED")]),
            f"{ENTRY}/0/attributes/subscriptions/email/marketing/consent",
        ),
        (
            subscribe_doc([{"type": "profile", "attributes": {"email": "a@example.com"}}]),
            f"{ENTRY}/0/attributes/subscriptions",
        ),
        (
            subscribe_doc(
                [
                    {
                        "type": "profile",
                        "attributes": {"subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}},
                    }
                ]
            ),
            f"{ENTRY}/0/attributes",
        ),
        (
            subscribe_doc(
                [
                    {
                        "type": "profile",
                        "attributes": {"email": "a@example.com", "subscriptions": {"sms_marketing": {}}},
                    }
                ]
            ),
            f"{ENTRY}/0/attributes/subscriptions/sms_marketing",
        ),
        (
            subscribe_doc([entry(email="a@example.com", profile_id="01NOPE0000000000000000000A")]),
            f"{ENTRY}/0/id",
        ),
        (subscribe_doc([]), ENTRY),
        (subscribe_doc([entry(email=f"p{i}@example.com") for i in range(1001)]), ENTRY),
        (
            subscribe_doc([entry(email="a@example.com")], historical="yes"),
            "/data/attributes/historical_import",
        ),
    ],
)
async def test_subscribe_validation_errors_name_the_member(
    http: Client, body: dict[str, Any], pointer: str
) -> None:
    assert await _pointer(http, SUBSCRIBE, body) == pointer


async def test_subscribe_limits_type_and_list(http: Client, emulator: KlaviyoEmulator) -> None:
    ok = subscribe_doc([entry(email=f"p{i}@example.com") for i in range(1000)])
    assert (await http.post(SUBSCRIBE, ok))[0] == 202
    assert len(emulator.profiles) == 1000
    wrong_type = {"data": {**ok["data"], "type": "profile-subscription-bulk-delete-job"}}
    assert await _pointer(http, SUBSCRIBE, wrong_type, 409) == "/data/type"
    status, doc, _ = await http.post(
        SUBSCRIBE, subscribe_doc([entry(email="z@example.com")], list_id="NoList")
    )
    assert status == 404 and only_error(doc)["code"] == "not_found"
    assert not emulator.find_profiles(email="z@example.com")  # a refused request changes nothing


async def test_subscribe_with_a_list_adds_members_and_lifts_only_lifted_suppressions(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    _, created, _ = await http.post("/api/lists", list_doc("Newsletter"))
    list_id = created["data"]["id"]
    unsub = emulator.seed_profile(email="u@example.com", consent={"email_marketing": "UNSUBSCRIBED"})
    bounced = emulator.seed_profile(email="b@example.com", suppressions=["HARD_BOUNCE", "USER_SUPPRESSED"])
    body = subscribe_doc([entry(email="u@example.com"), entry(email="b@example.com")], list_id=list_id)
    assert (await http.post(SUBSCRIBE, body))[0] == 202
    assert emulator.suppressed == {"b@example.com": ("HARD_BOUNCE",)}
    assert emulator.profiles[unsub]["lists"] == [list_id] and emulator.profiles[bounced]["lists"] == [list_id]
    assert emulator.subscriptions_of(unsub)["email"]["marketing"]["can_receive_email_marketing"] is True
    bounced_email = emulator.subscriptions_of(bounced)["email"]["marketing"]
    assert bounced_email["consent"] == "SUBSCRIBED" and bounced_email["can_receive_email_marketing"] is False


async def test_double_opt_in_list_waits_for_confirmation_unless_historical(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    _, created, _ = await http.post("/api/lists", list_doc("VIP", "double_opt_in"))
    list_id = created["data"]["id"]
    assert (await http.post(SUBSCRIBE, subscribe_doc([entry(email="d@example.com")], list_id=list_id)))[
        0
    ] == 202
    [profile] = emulator.find_profiles(email="d@example.com")
    assert profile["subscriptions"]["email_marketing"] == "NEVER_SUBSCRIBED"
    assert profile["subscriptions"]["pending_double_opt_in"] == [list_id] and profile["lists"] == []
    assert emulator.confirm_double_opt_in(profile["id"]) is True
    email = emulator.subscriptions_of(profile["id"])["email"]["marketing"]
    assert (email["consent"], email["double_optin"]) == ("SUBSCRIBED", True)
    assert emulator.profiles[profile["id"]]["lists"] == [list_id]
    assert emulator.confirm_double_opt_in(profile["id"]) is False
    historical = subscribe_doc(
        [entry(email="h@example.com", consented_at="2021-01-01T00:00:00Z")], list_id=list_id, historical=True
    )
    assert (await http.post(SUBSCRIBE, historical))[0] == 202
    [profile] = emulator.find_profiles(email="h@example.com")
    assert profile["subscriptions"]["email_marketing"] == "SUBSCRIBED" and profile["lists"] == [list_id]


async def test_unsubscribe_globally_or_from_a_list(http: Client, emulator: KlaviyoEmulator) -> None:
    _, created, _ = await http.post("/api/lists", list_doc("News"))
    list_id = created["data"]["id"]
    both = {"email_marketing": "SUBSCRIBED", "sms_marketing": "SUBSCRIBED"}
    member = emulator.seed_profile(
        email="m@example.com", phone_number="+15005550010", consent=both, lists=[list_id]
    )
    outsider = emulator.seed_profile(email="o@example.com", consent=both)
    body = unsubscribe_doc(
        [
            entry(
                email="m@example.com",
                phone_number="+15005550010",
                channels=("email_marketing", "sms_marketing"),
                consent="UNSUBSCRIBED",
            ),
            entry(email="o@example.com", consent="UNSUBSCRIBED"),
            entry(email="new@example.com", consent="UNSUBSCRIBED"),
        ],
        list_id=list_id,
    )
    status, doc, _ = await http.post(UNSUBSCRIBE, body)
    assert (status, doc) == (202, None)
    # the list member leaves the list (list suppression), keeps global email consent; SMS is global
    subs = emulator.subscriptions_of(member)
    assert subs["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert [(s["list_id"], s["reason"]) for s in subs["email"]["marketing"]["list_suppressions"]] == [
        (list_id, "UNSUBSCRIBE")
    ]
    assert subs["sms"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert emulator.profiles[member]["lists"] == []
    # profiles outside the list are unsubscribed globally; unknown ones are created, then unsubscribed
    assert emulator.subscriptions_of(outsider)["email"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert emulator.suppressed["o@example.com"] == ("UNSUBSCRIBE",)
    [new] = emulator.find_profiles(email="new@example.com")
    assert new["subscriptions"]["email_marketing"] == "UNSUBSCRIBED"


async def test_unsubscribe_validation_and_limit(http: Client) -> None:
    too_many = unsubscribe_doc([entry(email=f"p{i}@example.com", consent="UNSUBSCRIBED") for i in range(101)])
    assert await _pointer(http, UNSUBSCRIBE, too_many) == ENTRY
    subscribed = unsubscribe_doc([entry(email="a@example.com")])
    assert (
        await _pointer(http, UNSUBSCRIBE, subscribed)
        == f"{ENTRY}/0/attributes/subscriptions/email/marketing/consent"
    )
    timed = unsubscribe_doc(
        [entry(email="a@example.com", consent="UNSUBSCRIBED", consented_at="2020-01-01T00:00:00Z")]
    )
    assert (
        await _pointer(http, UNSUBSCRIBE, timed)
        == f"{ENTRY}/0/attributes/subscriptions/email/marketing/consented_at"
    )
    exactly = unsubscribe_doc([entry(email=f"p{i}@example.com", consent="UNSUBSCRIBED") for i in range(100)])
    assert (await http.post(UNSUBSCRIBE, exactly))[0] == 202


async def test_processing_lag_applies_the_change_after_the_answer() -> None:
    emulator = KlaviyoEmulator(processing_lag_seconds=0.05)
    await emulator.start()
    try:
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            http = Client(session, emulator.base_url)
            assert (await http.post(SUBSCRIBE, subscribe_doc([entry(email="lag@example.com")])))[0] == 202
            assert emulator.find_profiles(email="lag@example.com") == []
            await asyncio.sleep(0.15)
            [profile] = emulator.find_profiles(email="lag@example.com")
            assert profile["subscriptions"]["email_marketing"] == "SUBSCRIBED"
    finally:
        await emulator.stop()
