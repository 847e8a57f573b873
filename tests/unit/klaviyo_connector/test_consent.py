"""KlaviyoConsent against scripted responses: local refusals, per-item 400s, retries, job polling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from crmsync.connectors.klaviyo import ConsentChange, KlaviyoConnector, KlaviyoConsent
from crmsync.connectors.klaviyo import consent as consent_module
from crmsync.errors import CredentialsError, RecordValidationError, Recovery, TransientError
from tests.unit.klaviyo_connector.fake_klaviyo import FakeKlaviyo, Reply, error_body

SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
SUPPRESS = "/api/profile-suppression-bulk-create-jobs"
ENTRY = "/data/attributes/profiles/data"


def _change(n: int) -> ConsentChange:
    return ConsentChange(f"k-{n}", email=f"p{n}@example.com", correlation_id=f"corr-{n}")


def _invalid(pointer: str) -> Reply:
    return Reply(400, error_body(400, "invalid", "bad", source={"pointer": pointer}))


def _emails(fake: FakeKlaviyo, path: str = SUBSCRIBE) -> list[list[str]]:
    return [
        [e["attributes"]["email"] for e in c.json()["data"]["attributes"]["profiles"]["data"]]
        for c in fake.sent("POST", path)
    ]


def _consent(make_connector: Callable[..., KlaviyoConnector], **settings: object) -> KlaviyoConsent:
    connector = make_connector(**settings)
    return KlaviyoConsent(connector.client, connector.settings, connection="kl")


@pytest.mark.parametrize(
    ("change", "historical", "field"),
    [
        (ConsentChange("k", email="a@example.com", channels=frozenset()), False, "channels"),
        (ConsentChange("k", email="a@example.com", channels=frozenset({"email"})), False, "channels"),
        (ConsentChange("k", phone_number="+15005550006"), False, "email"),
        (
            ConsentChange("k", email="a@example.com", channels=frozenset({"sms_transactional"})),
            False,
            "phone_number",
        ),
        (ConsentChange("k", email="a@example.com"), True, "consented_at"),
        (
            ConsentChange("k", email="a@example.com", consented_at=datetime.now(UTC) + timedelta(hours=1)),
            True,
            "consented_at",
        ),
    ],
)
async def test_what_klaviyo_would_refuse_is_refused_locally(
    fake: FakeKlaviyo,
    make_connector: Callable[..., KlaviyoConnector],
    change: ConsentChange,
    historical: bool,
    field: str,
) -> None:
    [result] = await _consent(make_connector).subscribe([change], historical=historical)
    assert result.ok is False and result.calls == 0
    assert isinstance(result.error, RecordValidationError) and result.error.field == field
    assert result.error.entity == "consent" and result.error.record_key == "k"
    assert fake.requests == []


async def test_naive_consented_at_is_utc_and_sent_only_for_historical(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", SUBSCRIBE, Reply(202))
    change = ConsentChange("k", email="a@example.com", consented_at=datetime(2020, 1, 2, 3, 4, 5))
    consent = _consent(make_connector)
    assert (await consent.subscribe([change], historical=True))[0].ok
    assert (await consent.subscribe([change]))[0].ok
    historical, live = (c.json()["data"]["attributes"] for c in fake.sent("POST", SUBSCRIBE))
    leaf = historical["profiles"]["data"][0]["attributes"]["subscriptions"]["email"]["marketing"]
    assert leaf == {"consent": "SUBSCRIBED", "consented_at": "2020-01-02T03:04:05+00:00"}
    assert live["profiles"]["data"][0]["attributes"]["subscriptions"] == {
        "email": {"marketing": {"consent": "SUBSCRIBED"}}
    }


async def test_a_profile_named_by_the_pointer_fails_alone_and_the_rest_is_resent(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on(
        "POST",
        SUBSCRIBE,
        _invalid(f"{ENTRY}/1/attributes/subscriptions/email/marketing/consented_at"),
        _invalid(f"{ENTRY}/0/attributes/email"),
        Reply(202),
    )
    results = await _consent(make_connector).subscribe([_change(n) for n in range(4)])
    assert [r.ok for r in results] == [False, False, True, True]
    assert _emails(fake) == [
        [f"p{n}@example.com" for n in range(4)],
        ["p0@example.com", "p2@example.com", "p3@example.com"],
        ["p2@example.com", "p3@example.com"],
    ]
    first, second = results[1].error, results[0].error
    assert (
        isinstance(first, RecordValidationError)
        and first.field == "subscriptions.email.marketing.consented_at"
    )
    assert isinstance(second, RecordValidationError) and second.field == "email"
    assert (first.record_key, first.correlation_id, first.status) == ("k-1", "corr-1", 400)
    assert [r.calls for r in results] == [3, 0, 0, 0]


async def test_request_level_failures_fail_every_item_with_their_recovery(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", SUBSCRIBE, _invalid("/data/relationships/list/data"))
    results = await _consent(make_connector).subscribe([_change(1), _change(2)], list_id="L")
    assert [r.ok for r in results] == [False, False]
    assert all(isinstance(r.error, RecordValidationError) for r in results)
    fake.on("POST", SUBSCRIBE, Reply(503, error_body(503, "error", "down")))
    results = await _consent(make_connector, max_retries=2).subscribe([_change(1), _change(2)])
    assert all(isinstance(r.error, TransientError) for r in results)
    assert [r.calls for r in results] == [3, 0]  # one try plus two retries, charged to the first item
    fake.on("POST", SUBSCRIBE, Reply(401, error_body(401, "not_authenticated", "no")))
    [result] = await _consent(make_connector).subscribe([_change(1)])
    assert isinstance(result.error, CredentialsError) and result.error.recovery is Recovery.FATAL


async def test_a_profile_refused_too_often_ends_transient(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consent_module, "MAX_RESUBMITS", 1)
    fake.on("POST", SUBSCRIBE, _invalid(f"{ENTRY}/0/attributes/email"))
    results = await _consent(make_connector).subscribe([_change(n) for n in range(3)])
    assert [r.ok for r in results] == [False, False, False]
    assert isinstance(results[2].error, TransientError)


async def test_retry_then_success_counts_the_attempts(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", SUBSCRIBE, Reply(503), Reply(202))
    [result] = await _consent(make_connector).subscribe([_change(1)])
    assert (result.ok, result.calls) == (True, 2)


def _job(status: str) -> dict[str, object]:
    attributes = {"status": status, "created_at": "2026-01-01T00:00:00+00:00", "total_count": 1}
    return {"data": {"type": "profile-suppression-bulk-create-job", "id": "J1", "attributes": attributes}}


@pytest.mark.parametrize(
    ("polls", "expected"),
    [
        ([Reply(200, _job("queued")), Reply(200, _job("processing")), Reply(200, _job("complete"))], None),
        ([Reply(200, _job("cancelled"))], TransientError),
        ([Reply(404, error_body(404, "not_found", "gone"))], TransientError),  # outcome unknown
        ([Reply(401, error_body(401, "not_authenticated", "no"))], CredentialsError),
    ],
)
async def test_suppression_jobs_are_polled_until_they_settle(
    fake: FakeKlaviyo,
    make_connector: Callable[..., KlaviyoConnector],
    polls: list[Reply],
    expected: type[Exception] | None,
) -> None:
    fake.on("POST", SUPPRESS, Reply(202, _job("queued")))
    fake.on("GET", f"{SUPPRESS}/J1", *polls)
    [result] = await _consent(make_connector).suppress([_change(1)])
    if expected is None:
        assert result.ok and len(fake.sent("GET", f"{SUPPRESS}/J1")) == 3
    else:
        assert not result.ok and isinstance(result.error, expected)
    assert result.calls == 1  # polls are reads, not writes


async def test_a_suppression_job_without_an_id_or_that_never_finishes_is_transient(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", SUPPRESS, Reply(202, {"data": {"type": "profile-suppression-bulk-create-job"}}))
    [result] = await _consent(make_connector).suppress([_change(1)])
    assert isinstance(result.error, TransientError)
    fake.on("POST", SUPPRESS, Reply(202, _job("queued")))
    fake.on("GET", f"{SUPPRESS}/J1", Reply(200, _job("processing")))
    [result] = await _consent(make_connector, bulk_timeout_seconds=0.05).suppress([_change(1)])
    assert isinstance(result.error, TransientError) and "did not finish" in result.error.message
