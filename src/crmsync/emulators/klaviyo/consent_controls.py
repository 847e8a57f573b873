"""The emulator's direct Python API for consent, suppressions and data-privacy deletions.

Mixed into :class:`~crmsync.emulators.klaviyo.emulator.KlaviyoEmulator`. Reads return plain-dict
snapshots taken under the store lock; writes mirror what happens in Klaviyo without crmsync (a
customer clicking "unsubscribe", an email bouncing, a profile that existed before crmsync first
ran) and, like the HTTP API, bump the profile's ``updated``::

    pid = emu.seed_profile(email="old@example.com", external_id="c-1",
                           consent={"email_marketing": "SUBSCRIBED"},
                           consented_at=datetime(2020, 5, 1, tzinfo=UTC), updated_at=last_year)
    emu.subscriptions_of(pid)["email"]["marketing"]["consent"]     # "SUBSCRIBED"
    emu.change_consent(pid, "email_marketing", "UNSUBSCRIBED")  # preference page
    emu.suppress_email("old@example.com", "HARD_BOUNCE")        # a bounce
    emu.suppressed          # {"old@example.com": ("UNSUBSCRIBE", "HARD_BOUNCE")}
    emu.deletion_requests   # after POST /api/data-privacy-deletion-jobs
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from crmsync.emulators.klaviyo import consent_apply, render
from crmsync.emulators.klaviyo.context import Context
from crmsync.emulators.klaviyo.ids import now
from crmsync.emulators.klaviyo.jobs import SuppressionJob
from crmsync.emulators.klaviyo.subscriptions import (
    CHANNELS,
    CONSENT_VALUES,
    EMAIL_MARKETING,
    SUPPRESSION_REASONS,
    UNSUBSCRIBED,
    ProfileConsent,
)
from crmsync.emulators.klaviyo.validation import UPSERT_FIELDS, profile_attributes


class ConsentControls:
    """Consent-related state access for tests (needs ``self._ctx``)."""

    _ctx: Context

    # -- reads ---------------------------------------------------------------------------------
    def subscriptions_of(self, profile_id: str) -> dict[str, Any]:
        """The profile's ``subscriptions`` exactly as ``additional-fields[profile]=subscriptions``
        renders it (KeyError for an unknown profile)."""
        store = self._ctx.store
        with store.lock:
            return render.subscriptions(store.profiles[profile_id])

    @property
    def suppressed(self) -> dict[str, tuple[str, ...]]:
        """Globally suppressed emails (lower-cased) -> their suppression reasons."""
        store = self._ctx.store
        with store.lock:
            return {
                str(p.attributes["email"]).lower(): tuple(s.reason for s in p.consent.suppressions)
                for p in store.profiles.values()
                if p.consent.suppressions and p.attributes.get("email")
            }

    @property
    def deletion_requests(self) -> list[dict[str, Any]]:
        """Every data-privacy deletion request received, oldest first (``status`` queued/complete)."""
        store = self._ctx.store
        with store.lock:
            return [request.snapshot() for request in store.deletion_requests]

    @property
    def suppression_jobs(self) -> Mapping[str, SuppressionJob]:
        """Bulk suppress / unsuppress jobs by id (``job.kind`` is the JSON:API type)."""
        return self._ctx.jobs.suppression_jobs

    # -- writes --------------------------------------------------------------------------------
    def configure_consent(
        self, *, implicit_email_consent: bool | None = None, double_opt_in_default: bool | None = None
    ) -> None:
        """Account-level switches (:class:`~crmsync.emulators.klaviyo.subscriptions.ConsentSettings`)."""
        settings = self._ctx.store.consent_settings
        if implicit_email_consent is not None:
            settings.implicit_email_consent = implicit_email_consent
        if double_opt_in_default is not None:
            settings.double_opt_in_default = double_opt_in_default

    def seed_profile(
        self,
        *,
        consent: Mapping[str, str] | None = None,
        consented_at: datetime | None = None,
        method: str = "API",
        suppressions: Iterable[str] = (),
        lists: Iterable[str] = (),
        updated_at: datetime | None = None,
        **attributes: Any,
    ) -> str:
        """Create a profile as if it existed in Klaviyo before crmsync ran; returns its id.

        ``attributes`` are profile attributes (``email``, ``external_id``, ``properties`` ...,
        validated like the API's); ``consent`` maps channels (``email_marketing``,
        ``sms_marketing``, ``sms_transactional``) to ``SUBSCRIBED``/``UNSUBSCRIBED``/
        ``NEVER_SUBSCRIBED``; ``updated_at`` backdates ``created``/``updated`` so that change
        polling from a later cursor does not see the profile.
        """
        store = self._ctx.store
        attrs = profile_attributes(attributes, allowed=UPSERT_FIELDS)
        reasons = list(suppressions)
        for reason in reasons:
            if reason not in SUPPRESSION_REASONS:
                raise ValueError(f"unknown suppression reason {reason!r}")
        profile = store.create_profile(attrs)
        moment = updated_at or now()
        with store.lock:
            for channel, value in (consent or {}).items():
                self._record(profile.consent, channel, value, moment, consented_at, method)
            for reason in reasons:
                profile.consent.suppress(reason, moment)
            profile.created = profile.updated = moment
        for list_id in lists:
            store.add_to_list(store.klist(list_id), profile)
        return profile.id

    def edit_profile(self, profile_id: str, **attributes: Any) -> None:
        """An edit made in Klaviyo itself (its UI, another integration): ``attributes`` as in a
        PATCH (``first_name``, ``properties`` merged key by key ...), validated like the API's;
        ``updated`` moves, so change polling sees it."""
        store = self._ctx.store
        attrs = profile_attributes(attributes, allowed=UPSERT_FIELDS)
        store.update_profile(store.profile(profile_id), attrs)

    def change_consent(
        self,
        profile_id: str,
        channel: str,
        consent: str,
        *,
        method: str = "PREFERENCE_PAGE",
        method_detail: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """A consent change made in Klaviyo itself (e.g. the customer's preference page)."""
        store = self._ctx.store
        with store.lock:
            profile = store.profiles[profile_id]
            moment = at or now()
            self._record(profile.consent, channel, consent, moment, None, method, method_detail)
            store.touch(profile)

    def suppress_email(self, email: str, reason: str = "HARD_BOUNCE", *, at: datetime | None = None) -> bool:
        """Suppress an email (a bounce, a spam complaint ...); creates the profile if unknown."""
        if reason not in SUPPRESSION_REASONS:
            raise ValueError(f"unknown suppression reason {reason!r}")
        return consent_apply.suppress_email(self._ctx.store, email, reason, at)

    def confirm_double_opt_in(self, profile_id: str) -> bool:
        """The profile confirms a pending double opt-in; False when none was pending."""
        store = self._ctx.store
        return consent_apply.confirm_double_opt_in(store, store.profiles[profile_id])

    @staticmethod
    def _record(
        target: ProfileConsent,
        channel: str,
        consent: str,
        moment: datetime,
        consented_at: datetime | None,
        method: str,
        method_detail: str | None = None,
    ) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown consent channel {channel!r} (one of {', '.join(CHANNELS)})")
        if consent not in CONSENT_VALUES:
            raise ValueError(f"unknown consent value {consent!r} (one of {', '.join(CONSENT_VALUES)})")
        target.record(
            channel, consent, moment, consented_at=consented_at, method=method, method_detail=method_detail
        )
        if channel == EMAIL_MARKETING and consent == UNSUBSCRIBED:
            target.suppress("UNSUBSCRIBE", moment)
        elif channel == EMAIL_MARKETING:
            target.lift(frozenset({"UNSUBSCRIBE"}))
