"""A profile's consent state (email / SMS marketing, SMS transactional) and its suppressions.

Klaviyo keeps consent per channel — ``SUBSCRIBED``, ``UNSUBSCRIBED`` or ``NEVER_SUBSCRIBED`` with
the timestamp, method and details of the last change (spec ``EmailMarketing``, ``SMSMarketing``,
``SMSTransactional``) — and, separately, the *suppressions* that stop email marketing whatever the
consent says: global ones (``EmailMarketingSuppression``: ``HARD_BOUNCE``, ``INVALID_EMAIL``,
``SPAM_COMPLAINT``, ``UNSUBSCRIBE``, ``USER_SUPPRESSED``) and per-list ones
(``EmailMarketingListSuppression``). "Consent status and suppression status are separate from each
other. For example, a profile that is subscribed can be manually suppressed." (Klaviyo help center,
"Understanding consent in profiles").

``can_receive_email_marketing`` is "True if [the profile] does not have any global suppressions"
(spec). A ``NEVER_SUBSCRIBED`` profile therefore has *implicit* consent on the real API; the emulator
reports that only when :attr:`ConsentSettings.implicit_email_consent` is on (off by default, the
emulator's historical behaviour, which existing tests rely on).

Whatsapp and mobile push consent are accepted by the subscription endpoints but not modelled: they
always render as never subscribed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmsync.emulators.klaviyo.ids import iso

SUBSCRIBED = "SUBSCRIBED"
UNSUBSCRIBED = "UNSUBSCRIBED"
NEVER_SUBSCRIBED = "NEVER_SUBSCRIBED"
CONSENT_VALUES = (SUBSCRIBED, UNSUBSCRIBED, NEVER_SUBSCRIBED)

EMAIL_MARKETING = "email_marketing"
SMS_MARKETING = "sms_marketing"
SMS_TRANSACTIONAL = "sms_transactional"
CHANNELS = (EMAIL_MARKETING, SMS_MARKETING, SMS_TRANSACTIONAL)

#: ``EmailMarketingSuppression.reason`` (spec enum).
SUPPRESSION_REASONS = ("HARD_BOUNCE", "INVALID_EMAIL", "SPAM_COMPLAINT", "UNSUBSCRIBE", "USER_SUPPRESSED")
#: What bulk_subscribe_profiles lifts: "This API will remove any UNSUBSCRIBE, SPAM_REPORT or
#: USER_SUPPRESSED suppressions" — SPAM_REPORT is the enum's SPAM_COMPLAINT.
LIFTED_BY_SUBSCRIBE = frozenset({"UNSUBSCRIBE", "SPAM_COMPLAINT", "USER_SUPPRESSED"})
#: What bulk_unsuppress_profiles lifts: "This only removes suppressions with reason USER_SUPPRESSED".
LIFTED_BY_UNSUPPRESS = frozenset({"USER_SUPPRESSED"})
#: "The oldest consent record that can be set in Klaviyo is January 1, 1990 [...] an earlier date
#: [...] was updated to the minimum consent date possible" (help center).
OLDEST_CONSENT = datetime(1990, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class ConsentSettings:
    """Account-level consent settings, shared by every profile of one emulator."""

    #: ``can_receive_email_marketing`` for NEVER_SUBSCRIBED profiles without suppressions (spec: true).
    implicit_email_consent: bool = False
    #: "If a list is not provided, the opt-in process used will be determined by the account-level
    #: default opt-in setting" (bulk_subscribe_profiles).
    double_opt_in_default: bool = False


@dataclass(slots=True)
class ChannelConsent:
    """One channel's consent record."""

    consent: str = NEVER_SUBSCRIBED
    consent_timestamp: datetime | None = None
    last_updated: datetime | None = None
    method: str | None = None
    method_detail: str | None = None
    custom_method_detail: str | None = None
    double_optin: bool | None = None


@dataclass(slots=True)
class Suppression:
    reason: str
    timestamp: datetime


@dataclass(slots=True)
class ListSuppression:
    list_id: str
    reason: str
    timestamp: datetime


@dataclass(slots=True)
class PendingOptIn:
    """An email subscription waiting for the profile to confirm (a double opt-in list)."""

    list_id: str | None
    requested_at: datetime
    custom_source: str | None


@dataclass(slots=True)
class ProfileConsent:
    """Everything consent-related about one profile."""

    email_marketing: ChannelConsent = field(default_factory=ChannelConsent)
    sms_marketing: ChannelConsent = field(default_factory=ChannelConsent)
    sms_transactional: ChannelConsent = field(default_factory=ChannelConsent)
    suppressions: list[Suppression] = field(default_factory=list)
    list_suppressions: list[ListSuppression] = field(default_factory=list)
    pending: list[PendingOptIn] = field(default_factory=list)
    settings: ConsentSettings = field(default_factory=ConsentSettings, repr=False, compare=False)

    def channel(self, name: str) -> ChannelConsent:
        if name == EMAIL_MARKETING:
            return self.email_marketing
        if name == SMS_MARKETING:
            return self.sms_marketing
        if name == SMS_TRANSACTIONAL:
            return self.sms_transactional
        raise KeyError(name)

    def record(
        self,
        channel: str,
        consent: str,
        at: datetime,
        *,
        consented_at: datetime | None = None,
        method: str | None = None,
        method_detail: str | None = None,
        custom_method_detail: str | None = None,
        double_optin: bool | None = None,
    ) -> None:
        """Set one channel's consent; ``consented_at`` (historical imports) backdates the timestamp."""
        record = self.channel(channel)
        record.consent = consent
        stamp = consented_at or at
        record.consent_timestamp = max(stamp, OLDEST_CONSENT)
        record.last_updated = at
        record.method = method
        record.method_detail = method_detail
        record.custom_method_detail = custom_method_detail
        if channel == EMAIL_MARKETING:
            record.double_optin = double_optin

    def suppress(self, reason: str, at: datetime) -> bool:
        """Add a global suppression; False when one with this reason is already there."""
        if any(s.reason == reason for s in self.suppressions):
            return False
        self.suppressions.append(Suppression(reason, at))
        return True

    def lift(self, reasons: frozenset[str]) -> bool:
        """Remove the global suppressions with these reasons; True if any was removed."""
        kept = [s for s in self.suppressions if s.reason not in reasons]
        changed = len(kept) != len(self.suppressions)
        self.suppressions = kept
        return changed

    def suppress_list(self, list_id: str, reason: str, at: datetime) -> None:
        self.list_suppressions = [s for s in self.list_suppressions if s.list_id != list_id]
        self.list_suppressions.append(ListSuppression(list_id, reason, at))

    def lift_list(self, list_id: str) -> None:
        self.list_suppressions = [s for s in self.list_suppressions if s.list_id != list_id]

    def summary(self) -> dict[str, Any]:
        """Compact test view: consent per channel and the global suppression reasons."""
        return {
            **{name: self.channel(name).consent for name in CHANNELS},
            "suppressions": [s.reason for s in self.suppressions],
            "list_suppressions": [(s.list_id, s.reason) for s in self.list_suppressions],
            "pending_double_opt_in": [p.list_id for p in self.pending],
        }


def _channel_doc(record: ChannelConsent, can_receive_key: str, can_receive: bool) -> dict[str, Any]:
    return {
        can_receive_key: can_receive,
        "consent": record.consent,
        "consent_timestamp": iso(record.consent_timestamp),
        "method": record.method,
        "method_detail": record.method_detail,
        "last_updated": iso(record.last_updated),
    }


def render_subscriptions(
    consent: ProfileConsent, *, email: str | None, phone_number: str | None
) -> dict[str, Any]:
    """The ``subscriptions`` attribute (spec ``Subscriptions``) for ``additional-fields[profile]``."""
    email_record = consent.email_marketing
    allowed = email_record.consent == SUBSCRIBED or (
        consent.settings.implicit_email_consent and email_record.consent == NEVER_SUBSCRIBED
    )
    can_email = bool(email) and not consent.suppressions and allowed
    email_doc = _channel_doc(email_record, "can_receive_email_marketing", can_email)
    email_doc["custom_method_detail"] = email_record.custom_method_detail
    email_doc["double_optin"] = email_record.double_optin
    email_doc["suppression"] = [
        {"reason": s.reason, "timestamp": iso(s.timestamp)} for s in consent.suppressions
    ]
    email_doc["list_suppressions"] = [
        {"list_id": s.list_id, "reason": s.reason, "timestamp": iso(s.timestamp)}
        for s in consent.list_suppressions
    ]
    sms_ok = bool(phone_number)
    return {
        "email": {"marketing": email_doc},
        "sms": {
            "marketing": _channel_doc(
                consent.sms_marketing,
                "can_receive_sms_marketing",
                sms_ok and consent.sms_marketing.consent == SUBSCRIBED,
            ),
            "transactional": _channel_doc(
                consent.sms_transactional,
                "can_receive_sms_transactional",
                sms_ok and consent.sms_transactional.consent == SUBSCRIBED,
            ),
        },
        "mobile_push": {
            "marketing": {
                "can_receive_push_marketing": False,
                "consent": NEVER_SUBSCRIBED,
                "consent_timestamp": None,
            }
        },
    }


def filter_values(consent: ProfileConsent, path: str) -> list[Any] | None:
    """Values of a ``subscriptions.email.marketing.*`` filter field (lists: a profile may hold
    several suppressions); None for any other path."""
    prefix = "subscriptions.email.marketing."
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix) :]
    if rest == "suppression.reason":
        return [s.reason for s in consent.suppressions]
    if rest == "suppression.timestamp":
        return [s.timestamp for s in consent.suppressions]
    if rest == "list_suppressions.reason":
        return [s.reason for s in consent.list_suppressions]
    if rest == "list_suppressions.timestamp":
        return [s.timestamp for s in consent.list_suppressions]
    if rest == "list_suppressions.list_id":
        return [s.list_id for s in consent.list_suppressions]
    return None
