"""The official ``klaviyo-api`` SDK drives the consent, suppression and data-privacy endpoints.

Its pydantic models must parse the suppression jobs and the ``subscriptions`` of a profile; its 202
handling must accept the empty bodies of bulk (un)subscribe and deletion requests.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ApiException

from crmsync.emulators.klaviyo import KlaviyoEmulator


def _subscribe(email: str, consent: str = "SUBSCRIBED", kind: str = "create") -> dict[str, Any]:
    entry = {
        "type": "profile",
        "attributes": {"email": email, "subscriptions": {"email": {"marketing": {"consent": consent}}}},
    }
    job = f"profile-subscription-bulk-{kind}-job"
    return {"data": {"type": job, "attributes": {"profiles": {"data": [entry]}}}}


def test_subscribe_unsubscribe_and_read_consent_through_the_sdk(
    sdk: KlaviyoAPI, klaviyo_emulator: KlaviyoEmulator
) -> None:
    assert sdk.Profiles.bulk_subscribe_profiles(_subscribe("sdk-c@example.com")) is None
    [found] = klaviyo_emulator.find_profiles(email="sdk-c@example.com")
    profile = sdk.Profiles.get_profile(found["id"], additional_fields_profile=["subscriptions"])
    marketing = profile.data.attributes.subscriptions.email.marketing
    assert marketing.consent == "SUBSCRIBED" and marketing.can_receive_email_marketing is True
    assert marketing.method == "API" and marketing.consent_timestamp is not None
    sdk.Profiles.bulk_unsubscribe_profiles(_subscribe("sdk-c@example.com", "UNSUBSCRIBED", "delete"))
    listed = sdk.Profiles.get_profiles(
        filter='equals(email,"sdk-c@example.com")',
        additional_fields_profile=["subscriptions"],
        sort="-updated",
    )
    marketing = listed.data[0].attributes.subscriptions.email.marketing
    assert marketing.consent == "UNSUBSCRIBED"
    assert [s.reason for s in marketing.suppression] == ["UNSUBSCRIBE"]


def test_consented_at_without_historical_import_is_a_400_through_the_sdk(sdk: KlaviyoAPI) -> None:
    body = _subscribe("sdk-h@example.com")
    marketing = body["data"]["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"]["email"]
    marketing["marketing"]["consented_at"] = "2020-01-01T00:00:00Z"
    with pytest.raises(ApiException) as info:
        sdk.Profiles.bulk_subscribe_profiles(body)
    assert info.value.status == 400
    pointer = json.loads(info.value.body)["errors"][0]["source"]["pointer"]
    assert pointer.endswith("/subscriptions/email/marketing/consented_at")


def test_suppression_job_models_parse(sdk: KlaviyoAPI, klaviyo_emulator: KlaviyoEmulator) -> None:
    body = {
        "data": {
            "type": "profile-suppression-bulk-create-job",
            "attributes": {
                "profiles": {"data": [{"type": "profile", "attributes": {"email": "sdk-s@example.com"}}]}
            },
        }
    }
    job = sdk.Profiles.bulk_suppress_profiles(body)
    assert job.data.attributes.total_count == 1
    deadline = time.monotonic() + 5
    while True:
        read = sdk.Profiles.get_bulk_suppress_profiles_job(job.data.id)
        if read.data.attributes.status == "complete":
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert read.data.attributes.completed_count == 1 and read.data.attributes.skipped_count == 0
    jobs = sdk.Profiles.get_bulk_suppress_profiles_jobs()
    assert [j.id for j in jobs.data] == [job.data.id]
    assert klaviyo_emulator.suppressed == {"sdk-s@example.com": ("USER_SUPPRESSED",)}


def test_request_profile_deletion_through_the_sdk(sdk: KlaviyoAPI, klaviyo_emulator: KlaviyoEmulator) -> None:
    pid = klaviyo_emulator.seed_profile(email="sdk-d@example.com")
    body = {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {
                "profile": {"data": {"type": "profile", "attributes": {"email": "sdk-d@example.com"}}}
            },
        }
    }
    assert sdk.Data_Privacy.request_profile_deletion(body) is None
    assert pid not in klaviyo_emulator.profiles
    assert klaviyo_emulator.deletion_requests[0]["deleted_profile_ids"] == [pid]
