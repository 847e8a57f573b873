"""Every body the connector sends validates against its operation's request schema in the spec.

The bodies are captured on the wire by a scripted aiohttp server (the connector's real client sends
them), then validated with ``OAS30Validator`` resolving ``$ref`` in the spec document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector, KlaviyoSettings
from crmsync.ports import Projection
from tests.contract.klaviyo_connector import spec as specs
from tests.unit.klaviyo_connector.fake_klaviyo import Captured, FakeKlaviyo, Reply, error_body, profile_body

pytestmark = pytest.mark.specs

FULL_PAYLOAD: dict[str, Any] = {
    "external_id": "cust-1",
    "email": "ann.example@example.com",
    "phone_number": "+4915112345678",
    "first_name": "Ann",
    "last_name": "Example",
    "organization": "Example GmbH",
    "title": "Dr.",
    "locale": "de-DE",
    "location": {
        "address1": "Hauptstr. 1",
        "address2": None,
        "city": "Berlin",
        "country": "DE",
        "region": "BE",
        "zip": "10115",
        "timezone": "Europe/Berlin",
        "latitude": 52.52,
        "longitude": "13.4050",
    },
    "properties": {"ct_customer_group": "vip", "ct_custom": {"loyalty": 3, "tags": ["a", "b"]}},
}


@pytest.fixture
def spec(specs_dir: Path) -> dict[str, Any]:
    return specs.load_spec(specs_dir / "klaviyo" / "openapi-stable.json")


@pytest.fixture
async def wire() -> AsyncIterator[tuple[FakeKlaviyo, KlaviyoConnector]]:
    fake = FakeKlaviyo()
    base_url = await fake.start()
    settings = KlaviyoSettings(api_key="pk_spec_test", base_url=base_url, bulk_poll_interval_seconds=0.01)
    connector = KlaviyoConnector("kl", settings)
    try:
        yield fake, connector
    finally:
        await connector.aclose()
        await fake.stop()


def _assert_valid(spec: dict[str, Any], operation_id: str, captured: Captured) -> None:
    method, _, _ = specs.operation(spec, operation_id)
    assert captured.method == method
    body = captured.json()
    assert specs.errors(spec, operation_id, body) == []


async def test_create_or_update_profile_body(
    spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoConnector]
) -> None:
    fake, connector = wire
    fake.on("POST", "/api/profile-import", Reply(201, profile_body("P1")))
    assert (await connector.upsert(Projection("customer", "cust-1", FULL_PAYLOAD))).ok
    captured = fake.sent("POST", "/api/profile-import")[0]
    _assert_valid(spec, "create_or_update_profile", captured)
    attributes = captured.json()["data"]["attributes"]
    assert specs.unknown_attributes(spec, "ProfileUpsertQueryResourceObject", attributes) == set()


async def test_update_profile_bodies_of_the_duplicate_path(
    spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoConnector]
) -> None:
    fake, connector = wire
    duplicate = error_body(409, "duplicate_profile", "dup", meta={"duplicate_profile_id": "P-OLD"})
    other = error_body(409, "duplicate_profile", "dup", meta={"duplicate_profile_id": "P-OTHER"})
    fake.on("POST", "/api/profile-import", Reply(409, duplicate))
    fake.on("PATCH", "/api/profiles/P-OLD", Reply(409, other), Reply(200, profile_body("P-OLD")))
    fake.on("GET", "/api/profiles/P-OTHER", Reply(200, profile_body("P-OTHER", email=FULL_PAYLOAD["email"])))
    assert (await connector.upsert(Projection("customer", "cust-1", FULL_PAYLOAD))).ok
    patches = fake.sent("PATCH", "/api/profiles/P-OLD")
    assert len(patches) == 2
    _, path, _ = specs.operation(spec, "update_profile")
    assert path == "/api/profiles/{id}"
    for captured in patches:
        _assert_valid(spec, "update_profile", captured)
        body = captured.json()
        assert body["data"]["id"] == "P-OLD"  # must match the path id
        assert (
            specs.unknown_attributes(
                spec, "ProfilePartialUpdateQueryResourceObject", body["data"]["attributes"]
            )
            == set()
        )


async def test_bulk_import_profiles_body(
    spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoConnector]
) -> None:
    fake, connector = wire
    jobs = "/api/profile-bulk-import-jobs"
    fake.on("POST", jobs, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "J1"}}))
    fake.on(
        "GET",
        f"{jobs}/J1",
        Reply(
            200,
            {"data": {"type": "profile-bulk-import-job", "id": "J1", "attributes": {"status": "complete"}}},
        ),
    )
    fake.on("GET", f"{jobs}/J1/import-errors", Reply(200, {"data": []}))
    items = [
        Projection(
            "customer",
            f"cust-{n}",
            {**FULL_PAYLOAD, "external_id": f"cust-{n}", "email": f"c{n}@example.com"},
        )
        for n in range(50)
    ]
    items.append(Projection("customer", "minimal", {"external_id": "minimal"}))
    results = await connector.bulk_upsert(items)
    assert all(r.ok for r in results)
    captured = fake.sent("POST", jobs)[0]
    _assert_valid(spec, "bulk_import_profiles", captured)
    for profile in captured.json()["data"]["attributes"]["profiles"]["data"]:
        assert (
            specs.unknown_attributes(spec, "ProfileUpsertQueryResourceObject", profile["attributes"]) == set()
        )


def test_the_validator_is_not_vacuous(spec: dict[str, Any]) -> None:
    """Bodies that break the schema are reported, so the checks above can fail."""
    assert specs.errors(spec, "create_or_update_profile", {"data": {"type": "profiles", "attributes": {}}})
    assert specs.errors(spec, "create_or_update_profile", {"data": {"type": "profile"}})
    assert specs.errors(spec, "update_profile", {"data": {"type": "profile", "attributes": {}}})  # no id
    assert specs.errors(
        spec,
        "bulk_import_profiles",
        {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": []}}},
    )
    assert specs.errors(
        spec, "create_or_update_profile", {"data": {"type": "profile", "attributes": {"email": 5}}}
    )
    # nullable is understood (OpenAPI 3.0), and misspelt attributes are caught by the extra check
    assert not specs.errors(
        spec, "create_or_update_profile", {"data": {"type": "profile", "attributes": {"email": None}}}
    )
    assert specs.unknown_attributes(
        spec, "ProfileUpsertQueryResourceObject", {"organisation": "x", "location": {"postcode": "1"}}
    ) == {"organisation", "location.postcode"}
