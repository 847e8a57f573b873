"""Demo/benchmark data: realistic, deterministic, unique, valid — and accepted by the emulator."""

from __future__ import annotations

import random
import time

import phonenumbers
import pytest

from crmsync.emulators.commercetools import (
    CommercetoolsEmulator,
    generate_customer_drafts,
    generate_update_actions,
)

LOCALE_OF = {"DE": "de-DE", "GB": "en-GB", "US": "en-US", "FR": "fr-FR", "SE": "sv-SE", "NL": "nl-NL"}
STORE_OF = {
    "DE": "eu-store",
    "FR": "eu-store",
    "SE": "eu-store",
    "NL": "eu-store",
    "GB": "uk-store",
    "US": "us-store",
}


@pytest.fixture(scope="module")
def drafts() -> list[dict]:
    return generate_customer_drafts(3000, seed=42)


def test_deterministic_per_seed(drafts: list[dict]) -> None:
    assert generate_customer_drafts(50, seed=42) == drafts[:50]
    assert generate_customer_drafts(50, seed=43) != drafts[:50]


def test_emails_and_phone_numbers_are_unique_and_valid(drafts: list[dict]) -> None:
    emails = [d["email"].lower() for d in drafts]
    assert len(set(emails)) == len(emails)
    numbers: list[str] = []
    for draft in drafts:
        for address in draft.get("addresses", []):
            for field in ("phone", "mobile"):
                if field not in address:
                    continue
                parsed = phonenumbers.parse(address[field], address["country"])
                assert phonenumbers.is_valid_number(parsed), address[field]
                assert phonenumbers.region_code_for_number(parsed) == address["country"], address[field]
                if field == "mobile":
                    kind = phonenumbers.number_type(parsed)
                    assert kind in (
                        phonenumbers.PhoneNumberType.MOBILE,
                        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
                    )
                numbers.append(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    assert len(numbers) > 3000 and len(set(numbers)) == len(numbers)
    notations = {
        ("+" in n, " " in n)
        for d in drafts[:200]
        for a in d.get("addresses", [])
        for n in (a.get("mobile"),)
        if n
    }
    assert notations == {(True, True), (True, False), (False, True)}  # international, E.164, national


def test_locale_store_and_country_are_consistent(drafts: list[dict]) -> None:
    countries = set()
    for draft in drafts:
        country = next((a["country"] for a in draft.get("addresses", [])), None)
        if country is None:
            continue
        countries.add(country)
        assert draft["locale"] == LOCALE_OF[country]
        assert draft["stores"] == [{"typeId": "store", "key": STORE_OF[country]}]
        assert {a["country"] for a in draft["addresses"]} == {country}
    assert countries == set(LOCALE_OF)


def test_address_shapes_exercise_every_fallback_rule(drafts: list[dict]) -> None:
    shapes = {"default billing": 0, "billing list only": 0, "first address only": 0, "no address": 0}
    for draft in drafts:
        addresses = draft.get("addresses", [])
        keys = [a["key"] for a in addresses]
        assert len(keys) == len(set(keys))
        for index in [
            draft.get("defaultBillingAddress"),
            draft.get("defaultShippingAddress"),
            *draft.get("billingAddresses", []),
        ]:
            assert index is None or 0 <= index < len(addresses)
        if not addresses:
            shapes["no address"] += 1
        elif "defaultBillingAddress" in draft:
            shapes["default billing"] += 1
        elif draft.get("billingAddresses"):
            shapes["billing list only"] += 1
        else:
            shapes["first address only"] += 1
    assert all(count > 50 for count in shapes.values()), shapes
    fields = {k for d in drafts for a in d.get("addresses", []) for k in a}
    expected_fields = {"apartment", "building", "streetNumber", "streetName", "additionalStreetInfo", "city"}
    expected_fields |= {"additionalAddressInfo", "region", "postalCode", "country", "company", "state"}
    assert expected_fields <= fields
    top = {k for d in drafts for k in d}
    assert {
        "title",
        "companyName",
        "custom",
        "stores",
        "locale",
        "dateOfBirth",
        "customerNumber",
        "externalId",
        "salutation",
    } <= top
    modes = {d.get("authenticationMode", "Password") for d in drafts}
    assert modes == {"Password", "ExternalAuth"}


def test_custom_fields_follow_the_customer_profile_type(drafts: list[dict]) -> None:
    customs = [d["custom"] for d in drafts if "custom" in d]
    assert len(customs) > len(drafts) * 0.7
    for custom in customs:
        assert custom["type"] == {"typeId": "type", "key": "customer-profile"}
        assert custom["fields"]["loyaltyTier"] in ("bronze", "silver", "gold", "platinum")
        assert isinstance(custom["fields"]["newsletterOptIn"], bool)


def test_drafts_and_live_updates_are_accepted(drafts: list[dict]) -> None:
    emu = CommercetoolsEmulator("seed-test")
    started = time.perf_counter()
    customers = [emu.create_customer(d) for d in drafts]
    assert time.perf_counter() - started < 5
    rng = random.Random(9)
    changed = 0
    action_names: set[str] = set()
    for _ in range(1500):
        current = emu.get_customer(rng.choice(customers)["id"])
        assert current is not None
        actions = generate_update_actions(current, rng)
        assert 1 <= len(actions) <= 3
        action_names |= {a["action"] for a in actions}
        updated = emu.update_customer(current["id"], current["version"], actions)
        changed += updated["version"] == current["version"] + 1
    assert changed > 1450
    assert {
        "setFirstName",
        "setLastName",
        "changeAddress",
        "setCustomField",
        "setLocale",
        "addAddress",
    } <= action_names


def test_ten_thousand_creates_through_the_direct_api_are_fast() -> None:
    drafts = generate_customer_drafts(10_000, seed=1)
    emu = CommercetoolsEmulator("bench")
    started = time.perf_counter()
    for draft in drafts:
        emu.create_customer(draft)
    elapsed = time.perf_counter() - started
    assert len(emu.customers) == 10_000 and len(emu.messages) == 10_000
    assert elapsed < 8, f"10,000 creates took {elapsed:.2f}s"  # ~1.5 s on an idle 2-core machine
