"""Honouring suppressions: which e-mail subscriptions the Klaviyo connector holds back, and how it
asks Klaviyo (profiles by e-mail, 100 per request, with their subscriptions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from crmsync.connectors.klaviyo import KlaviyoConnector
from crmsync.connectors.klaviyo.suppressions import holds_back
from crmsync.ports import ConsentUpdate
from tests.unit.klaviyo_connector.fake_klaviyo import Captured, FakeKlaviyo, Reply, error_body

T2024 = datetime(2024, 5, 1, tzinfo=UTC)
T2025 = datetime(2025, 5, 1, tzinfo=UTC)


def test_a_subscription_is_held_back_unless_given_after_the_suppression() -> None:
    assert holds_back(None, T2024) is None
    assert holds_back(("SPAM_COMPLAINT", T2025), T2024) is not None  # older opt-in: kept
    assert holds_back(("SPAM_COMPLAINT", T2025), None) is not None  # no time: the "no" stands
    assert holds_back(("UNSUBSCRIBE", T2025), T2025) is not None  # same instant: the "no" stands
    assert holds_back(("UNSUBSCRIBE", T2024), T2025) is None  # opted in again later: sent
    note = holds_back(("USER_SUPPRESSED", T2025), T2024)
    assert note is not None and "USER_SUPPRESSED" in note and T2025.isoformat() in note


def _update(n: int, *, at: datetime | None = T2024, channel: str = "email_marketing") -> ConsentUpdate:
    return ConsentUpdate(f"c-{n}", {"email": f"P{n}@Example.com"}, channel, True, at=at)


def _profiles(c: Captured) -> Reply:
    """Profiles 0..149 exist; even ones carry a suppression of 2025 (odd: a hard bounce)."""
    literal = c.query["filter"]
    assert literal.startswith("any(email,[") and literal.endswith("])")
    emails = [e.strip('"') for e in literal[len("any(email,[") : -2].split(",")]
    data = []
    for email in emails:
        n = int(email[1:].split("@")[0])
        reason = "SPAM_COMPLAINT" if n % 2 == 0 else "HARD_BOUNCE"
        subs = {"email": {"marketing": {"suppression": [{"reason": reason, "timestamp": T2025.isoformat()}]}}}
        data.append({"type": "profile", "id": f"P{n}", "attributes": {"email": email, "subscriptions": subs}})
    return Reply(200, {"data": data, "links": {}})


async def test_suppressed_profiles_are_looked_up_in_pages_of_100_and_held_back(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", "/api/profiles", _profiles)
    fake.on("POST", "/api/profile-subscription-bulk-create-jobs", Reply(202, {}))
    sms = ConsentUpdate("c-150", {"phone_number": "+15005550006"}, "sms_marketing", True, at=T2024)
    updates = [_update(n) for n in range(150)] + [sms]
    results = await make_connector().set_consent(updates, historical=False)
    lookups = fake.sent("GET", "/api/profiles")
    assert len(lookups) == 2  # 150 e-mails, 100 per request; SMS needs no lookup
    assert lookups[0].query["additional-fields[profile]"] == "subscriptions"
    assert lookups[0].query["page[size]"] == "100"
    held = [r.record_key for r in results if r.note]
    assert held == [f"c-{n}" for n in range(0, 150, 2)]  # spam complaints kept; hard bounces need no guard
    assert all(r.ok for r in results)
    sent = [
        p["attributes"].get("email") or p["attributes"].get("phone_number")
        for c in fake.sent("POST", "/api/profile-subscription-bulk-create-jobs")
        for p in c.json()["data"]["attributes"]["profiles"]["data"]
    ]
    assert len(sent) == 76 and all(int(e[1:].split("@")[0]) % 2 == 1 for e in sent if e and "@" in e)


async def test_a_failed_lookup_sends_no_subscription(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", "/api/profiles", Reply(503, error_body(503, "error", "down")))
    fake.on("POST", "/api/profile-subscription-bulk-create-jobs", Reply(202, {}))
    results = await make_connector(max_retries=0).set_consent([_update(1), _update(2)], historical=False)
    assert [r.ok for r in results] == [False, False]  # retried later rather than risk lifting a "no"
    assert fake.sent("POST", "/api/profile-subscription-bulk-create-jobs") == []
