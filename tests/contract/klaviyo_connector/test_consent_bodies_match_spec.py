"""Bodies sent by KlaviyoConsent, KlaviyoLists and KlaviyoPrivacy validate against the spec's request
schemas, and every operation they call has a rate-limit entry (which test_limits_match_spec checks).

The bodies are captured on the wire by the scripted server and validated with ``OAS30Validator``
(``tests.contract.klaviyo_connector.spec``). Klaviyo's schemas leave objects open, so declared member
names are checked too: a misspelt ``historical_imports`` would pass the schema and be ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmsync.connectors.klaviyo import ConsentChange, KlaviyoConsent, KlaviyoPrivacy, KlaviyoSettings
from crmsync.connectors.klaviyo.client import KlaviyoClient
from crmsync.connectors.klaviyo.limits import OPERATION_LIMITS
from crmsync.ports import RequestRecord
from tests.contract.klaviyo_connector import spec as specs
from tests.unit.klaviyo_connector.fake_klaviyo import FakeKlaviyo, Reply

pytestmark = pytest.mark.specs

ALL = frozenset({"email_marketing", "sms_marketing", "sms_transactional"})
JOB = {"status": "complete", "created_at": "2026-01-01T00:00:00+00:00", "total_count": 1}


@pytest.fixture
def spec(specs_dir: Path) -> dict[str, Any]:
    return specs.load_spec(specs_dir / "klaviyo" / "openapi-stable.json")


@pytest.fixture
async def wire() -> AsyncIterator[tuple[FakeKlaviyo, KlaviyoClient, list[RequestRecord]]]:
    fake = FakeKlaviyo()
    base_url = await fake.start()
    records: list[RequestRecord] = []
    settings = KlaviyoSettings(api_key="pk_spec_consent", base_url=base_url, bulk_poll_interval_seconds=0.01)
    client = KlaviyoClient(settings, connection="kl", observer=records.append)
    try:
        yield fake, client, records
    finally:
        await client.aclose()
        await fake.stop()


def _declared(spec: dict[str, Any], schema_name: str) -> set[str]:
    schema = spec["components"]["schemas"][schema_name]
    attributes = schema["properties"]["attributes"]
    return set(attributes["properties"])


def _check(spec: dict[str, Any], operation: str, body: dict[str, Any]) -> None:
    assert specs.errors(spec, operation, body) == [], operation


async def test_subscribe_bodies_live_and_historical(
    spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoClient, list[RequestRecord]]
) -> None:
    fake, client, records = wire
    fake.on("POST", "/api/profile-subscription-bulk-create-jobs", Reply(202))
    consent = KlaviyoConsent(client)
    change = ConsentChange(
        "c-1", "a@example.com", "+15005550006", ALL, datetime(2021, 2, 3, 4, 5, 6, tzinfo=UTC)
    )
    assert (await consent.subscribe([change], list_id="Y6nRLr", custom_source="crmsync"))[0].ok
    assert (await consent.subscribe([change], historical=True))[0].ok
    live, historical = (c.json() for c in fake.sent("POST"))
    for body in (live, historical):
        _check(spec, "bulk_subscribe_profiles", body)
        entry = body["data"]["attributes"]["profiles"]["data"][0]
        assert set(entry["attributes"]) <= _declared(spec, "ProfileSubscriptionCreateQueryResourceObject")
        assert set(body["data"]["attributes"]) <= set(
            spec["components"]["schemas"]["SubscriptionCreateJobCreateQueryResourceObject"]["properties"][
                "attributes"
            ]["properties"]
        )
    live_entry = live["data"]["attributes"]["profiles"]["data"][0]["attributes"]
    assert "historical_import" not in live["data"]["attributes"]
    assert all(
        "consented_at" not in leaf for ch in live_entry["subscriptions"].values() for leaf in ch.values()
    )
    assert live["data"]["relationships"] == {"list": {"data": {"type": "list", "id": "Y6nRLr"}}}
    assert historical["data"]["attributes"]["historical_import"] is True
    sms = historical["data"]["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"]["sms"]
    assert sms["transactional"] == {"consent": "SUBSCRIBED", "consented_at": "2021-02-03T04:05:06+00:00"}
    assert {r.operation for r in records} <= set(OPERATION_LIMITS)


async def test_unsubscribe_and_suppression_bodies(
    spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoClient, list[RequestRecord]]
) -> None:
    fake, client, records = wire
    fake.on("POST", "/api/profile-subscription-bulk-delete-jobs", Reply(202))
    for kind, path in (
        ("create", "/api/profile-suppression-bulk-create-jobs"),
        ("delete", "/api/profile-suppression-bulk-delete-jobs"),
    ):
        job = {"type": f"profile-suppression-bulk-{kind}-job", "id": f"J-{kind}", "attributes": JOB}
        fake.on("POST", path, Reply(202, {"data": job}))
        fake.on("GET", f"{path}/J-{kind}", Reply(200, {"data": job}))
    consent = KlaviyoConsent(client)
    change = ConsentChange("c-1", "a@example.com", "+15005550006", ALL)
    assert (await consent.unsubscribe([change], list_id="Y6nRLr"))[0].ok
    assert (await consent.suppress([change]))[0].ok
    assert (await consent.unsuppress([change]))[0].ok
    unsubscribe = fake.sent("POST", "/api/profile-subscription-bulk-delete-jobs")[0].json()
    _check(spec, "bulk_unsubscribe_profiles", unsubscribe)
    leaves = unsubscribe["data"]["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"]
    assert leaves == {
        "email": {"marketing": {"consent": "UNSUBSCRIBED"}},
        "sms": {"marketing": {"consent": "UNSUBSCRIBED"}, "transactional": {"consent": "UNSUBSCRIBED"}},
    }
    _check(
        spec,
        "bulk_suppress_profiles",
        fake.sent("POST", "/api/profile-suppression-bulk-create-jobs")[0].json(),
    )
    _check(
        spec,
        "bulk_unsuppress_profiles",
        fake.sent("POST", "/api/profile-suppression-bulk-delete-jobs")[0].json(),
    )
    assert {r.operation for r in records} == {
        "bulk_unsubscribe_profiles",
        "bulk_suppress_profiles",
        "get_bulk_suppress_profiles_job",
        "bulk_unsuppress_profiles",
        "get_bulk_unsuppress_profiles_job",
    }
    assert {r.operation for r in records} <= set(OPERATION_LIMITS)


async def test_list_and_deletion_bodies(
    spec: dict[str, Any], wire: tuple[FakeKlaviyo, KlaviyoClient, list[RequestRecord]]
) -> None:
    fake, client, records = wire
    fake.on("GET", "/api/lists", Reply(200, {"data": []}))
    fake.on(
        "POST", "/api/lists", Reply(201, {"data": {"type": "list", "id": "L1", "attributes": {"name": "N"}}})
    )
    fake.on("POST", "/api/lists/L1/relationships/profiles", Reply(204))
    fake.on("POST", "/api/data-privacy-deletion-jobs", Reply(202))
    consent = KlaviyoConsent(client)
    assert await consent.ensure_list('News "letter"') == "L1"
    lookup = fake.sent("GET", "/api/lists")[0]
    assert lookup.query["filter"] == 'equals(name,"News \\"letter\\"")' and lookup.query["sort"] == "created"
    _check(spec, "create_list", fake.sent("POST", "/api/lists")[0].json())
    assert all(r.ok for r in await consent.add_to_list("L1", ["P1", "P2"]))
    _check(spec, "add_profiles_to_list", fake.sent("POST", "/api/lists/L1/relationships/profiles")[0].json())
    privacy = KlaviyoPrivacy(client)
    for kwargs in ({"email": "a@example.com"}, {"phone_number": "+15005550006"}, {"profile_id": "01P"}):
        assert (await privacy.request_deletion(**kwargs)).ok
    for captured in fake.sent("POST", "/api/data-privacy-deletion-jobs"):
        body = captured.json()
        _check(spec, "request_profile_deletion", body)
        data = body["data"]["attributes"]["profile"]["data"]
        assert len([v for v in (data.get("id"), *data["attributes"].values()) if v]) == 1
    assert {r.operation for r in records} <= set(OPERATION_LIMITS)
