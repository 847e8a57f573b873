"""Seed 004, row by row: commercetools Customer → Klaviyo Profile with the default contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from crmsync.mapping import Projector
from crmsync.model import Person
from tests.unit.mapping.factories import BERLIN, LONDON, STOCKHOLM

Customer = Callable[..., dict[str, Any]]


def test_first_name(projector: Projector, customer: Customer) -> None:
    assert projector.project(customer(firstName="  Jane ")).payload["first_name"] == "Jane"


def test_last_name(projector: Projector, customer: Customer) -> None:
    assert projector.project(customer(lastName="Doe")).payload["last_name"] == "Doe"


def test_title(projector: Projector, customer: Customer) -> None:
    assert projector.project(customer(title="Prof.")).payload["title"] == "Prof."


def test_phone_number_prefers_mobile_of_selected_address(projector: Projector, customer: Customer) -> None:
    result = projector.project(customer(defaultBillingAddressId="addr-berlin"))
    assert result.payload["phone_number"] == "+4915123456789"  # BERLIN has mobile and phone
    assert result.canonical.contact.mobile == "+4915123456789"
    assert result.canonical.contact.phone == "+49301234567"
    assert result.identifiers["phone_number"] == "+4915123456789"


def test_phone_number_falls_back_to_phone(projector: Projector, customer: Customer) -> None:
    result = projector.project(customer(defaultBillingAddressId="addr-london"))
    assert result.payload["phone_number"] == "+442079460018"  # national number, GB as region hint


def test_phone_number_invalid_mobile_is_dropped_with_warning(
    projector: Projector, customer: Customer
) -> None:
    berlin = {**BERLIN, "mobile": "12"}
    result = projector.project(customer(addresses=[berlin]))
    assert result.payload["phone_number"] == "+49301234567"
    assert any("addresses[0].mobile" in w and "e164" in w for w in result.warnings)


def test_phone_number_absent_without_numbers(projector: Projector, customer: Customer) -> None:
    bare = {k: v for k, v in BERLIN.items() if k not in ("mobile", "phone")}
    result = projector.project(customer(addresses=[bare]))
    assert "phone_number" not in result.payload
    assert "phone_number" not in result.identifiers


def test_company_name_to_organization(projector: Projector, customer: Customer) -> None:
    payload = projector.project(customer(companyName="ACME GmbH")).payload
    assert payload["organization"] == "ACME GmbH"  # Klaviyo's spelling; the seed says "organisation"
    assert "organisation" not in payload


def test_id_to_external_id(projector: Projector, customer: Customer) -> None:
    result = projector.project(customer(id="3cdcdcc8-80c5-41bb-abb5-ac8772c9cc24"))
    assert result.payload["external_id"] == "3cdcdcc8-80c5-41bb-abb5-ac8772c9cc24"
    assert result.identifiers["external_id"] == "3cdcdcc8-80c5-41bb-abb5-ac8772c9cc24"
    assert result.record_key == "3cdcdcc8-80c5-41bb-abb5-ac8772c9cc24"
    assert result.canonical.ids.get("commercetools", "id") == "3cdcdcc8-80c5-41bb-abb5-ac8772c9cc24"
    assert result.canonical.ids.get("commercetools", "key") == "cust-1"
    assert result.canonical.ids.get("commercetools", "customerNumber") == "C-1001"


def test_address1_joins_apartment_building_number_street(projector: Projector, customer: Customer) -> None:
    location = projector.project(customer(addresses=[BERLIN])).payload["location"]
    assert location["address1"] == "App. 4 Haus B 43 Friedrichstraße"


def test_address1_skips_missing_parts(projector: Projector, customer: Customer) -> None:
    location = projector.project(customer(addresses=[{**LONDON, "building": "  "}])).payload["location"]
    assert location["address1"] == "221B Baker Street"


def test_address2_joins_additional_infos(projector: Projector, customer: Customer) -> None:
    location = projector.project(customer(addresses=[BERLIN])).payload["location"]
    assert location["address2"] == "Hinterhof c/o Muster"
    location = projector.project(customer(addresses=[LONDON])).payload["location"]
    assert "address2" not in location


def test_city(projector: Projector, customer: Customer) -> None:
    assert projector.project(customer(addresses=[LONDON])).payload["location"]["city"] == "London"


def test_country(projector: Projector, customer: Customer) -> None:
    assert projector.project(customer(addresses=[STOCKHOLM])).payload["location"]["country"] == "SE"


def test_region(projector: Projector, customer: Customer) -> None:
    assert projector.project(customer(addresses=[BERLIN])).payload["location"]["region"] == "Berlin"
    assert "region" not in projector.project(customer(addresses=[LONDON])).payload["location"]


def test_zip_from_postal_code(projector: Projector, customer: Customer) -> None:
    assert projector.project(customer(addresses=[LONDON])).payload["location"]["zip"] == "NW1 6XE"


def test_custom_fields_to_properties(projector: Projector, customer: Customer) -> None:
    fields = {
        "loyaltyTier": "gold",
        "newsletter": True,
        "points": 120,
        "nickname": {"en": "Janie", "de": "Jani"},
        "favouriteColours": ["red", "blue"],
    }
    custom = {"type": {"typeId": "type", "id": "type-1"}, "fields": fields}
    payload = projector.project(customer(custom=custom)).payload
    assert payload["properties"] == fields


def test_email_is_normalised(projector: Projector, customer: Customer) -> None:
    result = projector.project(customer(email="  Jane.Doe@Example.COM "))
    assert result.payload["email"] == "jane.doe@example.com"
    assert result.identifiers["email"] == "jane.doe@example.com"


def test_locale(projector: Projector, customer: Customer) -> None:
    assert projector.project(customer(locale="de-DE")).payload["locale"] == "de-DE"
    assert "locale" not in projector.project(customer(locale=None)).payload


# -- address selection priority ------------------------------------------------------------------


def _city(projector: Projector, record: dict[str, Any]) -> str | None:
    location = projector.project(record).payload.get("location")
    return None if location is None else location.get("city")


def test_default_billing_address_wins(projector: Projector, customer: Customer) -> None:
    record = customer(defaultBillingAddressId="addr-stockholm", billingAddressIds=["addr-london"])
    assert _city(projector, record) == "Stockholm"


def test_first_billing_address_when_no_default(projector: Projector, customer: Customer) -> None:
    record = customer(billingAddressIds=["addr-london", "addr-stockholm"])
    assert _city(projector, record) == "London"


def test_first_address_when_no_billing_addresses(projector: Projector, customer: Customer) -> None:
    assert _city(projector, customer()) == "Berlin"


def test_dangling_default_billing_id_falls_through(projector: Projector, customer: Customer) -> None:
    record = customer(defaultBillingAddressId="gone", billingAddressIds=["addr-stockholm"])
    assert _city(projector, record) == "Stockholm"


def test_no_addresses_no_location(projector: Projector, customer: Customer) -> None:
    result = projector.project(customer(addresses=[]))
    assert "location" not in result.payload
    assert "phone_number" not in result.payload
    assert result.canonical.address is None
    assert result.canonical.addresses == []


def test_canonical_holds_selected_and_all_addresses(projector: Projector, customer: Customer) -> None:
    result = projector.project(customer(billingAddressIds=["addr-london"]))
    person = result.canonical
    assert isinstance(person, Person)
    assert person.address is not None and person.address.city == "London"
    assert [a.city for a in person.addresses] == ["Berlin", "London", "Stockholm"]
    assert person.addresses[0].line1 == "App. 4 Haus B 43 Friedrichstraße"
    assert person.context.stores == ["eu"]
    assert person.context.locale == "de-DE"
    assert person.organization == "ACME GmbH"


def test_source_fields_name_the_selected_address(projector: Projector, customer: Customer) -> None:
    result = projector.project(customer(billingAddressIds=["addr-london"]))
    sources = result.source_fields
    assert sources["billingAddressIds[0]"] == "addr-london"
    assert sources["addresses[1].city"] == "London"
    assert sources["addresses[1].phone"] == "020 7946 0018"
    assert sources["firstName"] == "Jane"
    assert "address.city" not in sources


# -- the vendor's own example --------------------------------------------------------------------


def _klaviyo(specs_dir: Path) -> tuple[dict[str, Any], OAS30Validator]:
    spec = json.loads((specs_dir / "klaviyo" / "openapi-stable.json").read_text(encoding="utf-8"))
    root = {"$ref": "#/components/schemas/ProfileCreateQueryResourceObject", "components": spec["components"]}
    return spec["components"]["schemas"], OAS30Validator(root)


@pytest.mark.specs
def test_vendor_example_customer(projector: Projector, specs_dir: Path) -> None:
    example = specs_dir / "commercetools" / "examples" / "customer.example.json"
    record = json.loads(example.read_text(encoding="utf-8"))
    result = projector.project(record)
    assert result.payload == {
        "external_id": "3cdcdcc8-80c5-41bb-abb5-ac8772c9cc24",
        "email": "johndoe@example.com",
        "first_name": "John",
        "last_name": "Doe",
    }
    assert result.warnings == []
    _, validator = _klaviyo(specs_dir)
    validator.validate({"type": "profile", "attributes": result.payload})


@pytest.mark.specs
def test_full_payload_fits_klaviyo_profile_schema(
    projector: Projector, customer: Customer, specs_dir: Path
) -> None:
    custom = {"type": {"typeId": "type", "id": "t"}, "fields": {"tier": "gold"}}
    payload = projector.project(customer(custom=custom)).payload
    schemas, validator = _klaviyo(specs_dir)
    validator.validate({"type": "profile", "attributes": payload})
    attributes = schemas["ProfileCreateQueryResourceObject"]["properties"]["attributes"]["properties"]
    assert set(payload) <= set(attributes)
    assert set(payload["location"]) <= set(schemas["ProfileLocation"]["properties"])
