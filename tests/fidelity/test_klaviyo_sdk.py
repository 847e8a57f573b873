"""The official ``klaviyo-api`` SDK (v25, revision 2026-10-15) against the Klaviyo emulator.

If the SDK's generated models parse every response and its error handling sees the statuses it
expects, the emulator speaks the wire format real clients are built for.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ApiException

from crmsync.emulators.klaviyo import KlaviyoEmulator


def _profile(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": attributes}}


def _bulk(profiles: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": [{"type": "profile", "attributes": p} for p in profiles]}},
        }
    }


def _wait_complete(sdk: KlaviyoAPI, job_id: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = sdk.Profiles.get_bulk_import_profiles_job(job_id)
        if job.data.attributes.status == "complete":
            return job
        assert time.monotonic() < deadline, f"bulk import job {job_id} did not complete"
        time.sleep(0.02)


def test_create_profile_parses_into_the_response_model(
    sdk: KlaviyoAPI, klaviyo_emulator: KlaviyoEmulator
) -> None:
    response = sdk.Profiles.create_profile(
        _profile(
            email="sdk@example.com", external_id="sdk-1", location={"city": "Oslo"}, properties={"vip": True}
        )
    )
    data = response.data
    assert len(data.id) == 26
    assert data.attributes.email == "sdk@example.com"
    assert data.attributes.location.city == "Oslo"
    assert data.attributes.properties == {"vip": True}
    assert data.attributes.created is not None
    assert data.links.var_self.endswith(f"/api/profiles/{data.id}/")
    assert klaviyo_emulator.profiles[data.id]["external_id"] == "sdk-1"


def test_duplicate_create_raises_409_with_duplicate_profile_id(sdk: KlaviyoAPI) -> None:
    first = sdk.Profiles.create_profile(_profile(email="dupe@example.com"))
    with pytest.raises(ApiException) as info:
        sdk.Profiles.create_profile(_profile(email="dupe@example.com"))
    assert info.value.status == 409
    error = json.loads(info.value.body)["errors"][0]
    assert error["code"] == "duplicate_profile"
    assert error["meta"]["duplicate_profile_id"] == first.data.id


def test_validation_error_surfaces_as_400_with_pointer(sdk: KlaviyoAPI) -> None:
    with pytest.raises(ApiException) as info:
        sdk.Profiles.create_profile(_profile(email="ok@example.com", phone_number="12345"))
    assert info.value.status == 400
    assert json.loads(info.value.body)["errors"][0]["source"]["pointer"] == "/data/attributes/phone_number"


def test_create_or_update_profile_201_then_200(sdk: KlaviyoAPI) -> None:
    created = sdk.Profiles.create_or_update_profile_with_http_info(
        _profile(email="up@example.com", first_name="A")
    )
    assert created.status_code == 201
    updated = sdk.Profiles.create_or_update_profile_with_http_info(
        _profile(email="up@example.com", last_name="B")
    )
    assert updated.status_code == 200
    assert updated.data.data.id == created.data.data.id
    assert (updated.data.data.attributes.first_name, updated.data.data.attributes.last_name) == ("A", "B")
    # the wrapped (retrying) method returns the model too
    again = sdk.Profiles.create_or_update_profile(_profile(email="up@example.com", title="Dr"))
    assert again.data.attributes.title == "Dr"


def test_get_profiles_filters_and_follows_page_cursor_across_pages(sdk: KlaviyoAPI) -> None:
    profiles = [{"email": f"p{i:03d}@example.com", "external_id": f"ext-{i:03d}"} for i in range(130)]
    job = sdk.Profiles.bulk_import_profiles(_bulk(profiles))
    _wait_complete(sdk, job.data.id)

    one = sdk.Profiles.get_profiles(filter='equals(email,"p042@example.com")')
    assert [p.attributes.external_id for p in one.data] == ["ext-042"]
    some = sdk.Profiles.get_profiles(filter='any(external_id,["ext-001","ext-129","missing"])')
    assert sorted(p.attributes.email for p in some.data) == ["p001@example.com", "p129@example.com"]

    emails: list[str] = []
    page = sdk.Profiles.get_profiles(page_size=50)
    pages = 1
    while True:
        emails.extend(p.attributes.email for p in page.data)
        if not page.links.next:
            break
        # links.next is an http:// URL: the SDK forwards it verbatim as page[cursor]
        page = sdk.Profiles.get_profiles(page_cursor=page.links.next, page_size=50)
        pages += 1
    assert pages == 3
    assert emails == [p["email"] for p in profiles]


def test_sparse_fieldsets_come_back_as_dicts(sdk: KlaviyoAPI) -> None:
    sdk.Profiles.create_profile(_profile(email="sparse@example.com", first_name="S"))
    # the SDK cannot build its models from partial attributes and returns the raw document
    page = sdk.Profiles.get_profiles(fields_profile=["email"])
    assert page["data"][0]["attributes"] == {"email": "sparse@example.com"}


def test_get_profile_and_update_profile(sdk: KlaviyoAPI) -> None:
    created = sdk.Profiles.create_profile(
        _profile(email="g@example.com", first_name="G", properties={"a": 1})
    )
    pid = created.data.id
    fetched = sdk.Profiles.get_profile(pid, additional_fields_profile=["subscriptions"])
    assert fetched.data.attributes.first_name == "G"
    assert fetched.data.attributes.subscriptions.email.marketing.consent == "NEVER_SUBSCRIBED"
    updated = sdk.Profiles.update_profile(
        pid,
        {"data": {"type": "profile", "id": pid, "attributes": {"first_name": None, "properties": {"b": 2}}}},
    )
    assert updated.data.attributes.first_name is None
    assert updated.data.attributes.properties == {"a": 1, "b": 2}
    with pytest.raises(ApiException) as info:
        sdk.Profiles.get_profile("01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert info.value.status == 404


def test_bulk_import_job_lifecycle_and_import_errors(
    sdk: KlaviyoAPI, klaviyo_emulator: KlaviyoEmulator
) -> None:
    job = sdk.Profiles.bulk_import_profiles(
        _bulk(
            [{"email": "b1@example.com"}, {"email": "broken"}, {"email": "b2@example.com", "first_name": "B"}]
        )
    )
    assert job.data.attributes.status == "queued"
    assert job.data.attributes.total_count == 3
    done = _wait_complete(sdk, job.data.id)
    assert (done.data.attributes.completed_count, done.data.attributes.failed_count) == (2, 1)
    assert done.data.attributes.completed_at is not None
    errors = sdk.Profiles.get_errors_for_bulk_import_profiles_job(job.data.id)
    [error] = errors.data
    assert error.attributes.code == "invalid"
    assert error.attributes.source.pointer == "/data/attributes/email"
    assert error.attributes.original_payload == {"type": "profile", "attributes": {"email": "broken"}}
    jobs = sdk.Profiles.get_bulk_import_profiles_jobs()
    assert [j.id for j in jobs.data] == [job.data.id]
    assert len(klaviyo_emulator.find_profiles(email="b2@example.com")) == 1


def test_create_event_returns_none_and_reads_back_by_metric(sdk: KlaviyoAPI) -> None:
    body = {
        "data": {
            "type": "event",
            "attributes": {
                "properties": {"OrderId": "o-9", "ItemNames": ["Hat"]},
                "time": "2026-05-01T12:00:00Z",
                "value": 19.99,
                "value_currency": "EUR",
                "unique_id": "o-9",
                "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": "ev@example.com"}}},
            },
        }
    }
    assert sdk.Events.create_event(body) is None
    metrics = sdk.Metrics.get_metrics()
    metric_id = next(m.id for m in metrics.data if m.attributes.name == "Placed Order")
    events = sdk.Events.get_events(filter=f'equals(metric_id,"{metric_id}")')
    [event] = events.data
    assert event.attributes.event_properties["OrderId"] == "o-9"
    assert event.attributes.datetime_.isoformat() == "2026-05-01T12:00:00+00:00"
    profile = sdk.Profiles.get_profiles(filter='equals(email,"ev@example.com")').data[0]
    assert event.relationships.profile.data.id == profile.id
    by_profile = sdk.Events.get_events(filter=f'equals(profile_id,"{profile.id}")')
    assert [e.id for e in by_profile.data] == [event.id]
