"""Applying validated consent requests to the store (bulk subscribe / unsubscribe / (un)suppress).

Subscribe (``bulk_subscribe_profiles``):

* the profile is found by ``id``, else by email / phone number; "If a profile cannot be found
  matching the given identifier(s), a new profile will be created and then subscribed"; an
  identifier the profile lacks (and nobody else owns) is set on it;
* each named channel becomes ``SUBSCRIBED`` with ``consent_timestamp`` = ``consented_at`` (historical
  imports) or now, ``method`` ``"API"`` and ``custom_method_detail`` = ``custom_source``;
* email: "This API will remove any UNSUBSCRIBE, SPAM_REPORT or USER_SUPPRESSED suppressions"
  (HARD_BOUNCE and INVALID_EMAIL stay), and a list suppression for the given list;
* "If the provided list has double opt-in enabled, profiles will receive a message requiring their
  confirmation before subscribing" — email consent then stays as it was and a pending opt-in is
  kept until :func:`confirm_double_opt_in` (the profile clicking the link); without a list the
  account default decides; ``historical_import`` bypasses double opt-in;
* the profiles are added to the list (after confirmation, for a pending double opt-in).

Unsubscribe (``bulk_unsubscribe_profiles``): "Profiles not in the specified list will be globally
unsubscribed" — so with a list, an email-marketing unsubscribe of a list member removes it from the
list and adds a list suppression (reason ``UNSUBSCRIBE``), leaving global consent alone; otherwise
email consent becomes ``UNSUBSCRIBED`` with a global ``UNSUBSCRIBE`` suppression. SMS consent is
always global (Klaviyo has no per-list SMS consent). Unknown profiles are created, then unsubscribed.

Every change bumps the profile's ``updated``.
"""

from __future__ import annotations

from datetime import datetime

from crmsync.emulators.klaviyo.consent_validation import ConsentRequest, ProfileChange
from crmsync.emulators.klaviyo.ids import now
from crmsync.emulators.klaviyo.store import Profile, Store
from crmsync.emulators.klaviyo.subscriptions import (
    EMAIL_MARKETING,
    LIFTED_BY_SUBSCRIBE,
    LIFTED_BY_UNSUPPRESS,
    SUBSCRIBED,
    UNSUBSCRIBED,
    PendingOptIn,
)

API_METHOD = "API"
USER_SUPPRESSED = "USER_SUPPRESSED"


def resolve(store: Store, change: ProfileChange) -> Profile | None:
    """The profile an entry names (created when nothing matches); None if its id vanished."""
    attrs = {"email": change.email, "phone_number": change.phone_number}
    if change.profile_id is not None:
        profile = store.profiles.get(change.profile_id)
        if profile is None:
            return None
    else:
        matched = store.matches(attrs)
        if not matched:
            return store.create_profile({k: v for k, v in attrs.items() if v})
        profile = store.profiles[matched[0]]
    missing = {
        name: value
        for name, value in attrs.items()
        if value and not profile.attributes.get(name) and store.owner(name, value) is None
    }
    if missing:
        store.update_profile(profile, missing)
    return profile


def _double_opt_in(store: Store, request: ConsentRequest) -> bool:
    if request.historical:
        return False
    klist = store.lists.get(request.list_id) if request.list_id else None
    if klist is not None:
        return klist.opt_in_process == "double_opt_in"
    return store.consent_settings.double_opt_in_default


def subscribe(store: Store, request: ConsentRequest) -> None:
    at = now()
    klist = store.lists.get(request.list_id) if request.list_id else None
    double = _double_opt_in(store, request)
    for change in request.profiles:
        profile = resolve(store, change)
        if profile is None:
            continue
        pending = False
        with store.lock:
            for channel in change.channels:
                if channel.channel == EMAIL_MARKETING and double:
                    profile.consent.pending.append(PendingOptIn(request.list_id, at, request.custom_source))
                    pending = True
                    continue
                profile.consent.record(
                    channel.channel,
                    SUBSCRIBED,
                    at,
                    consented_at=channel.consented_at,
                    method=API_METHOD,
                    custom_method_detail=request.custom_source,
                    double_optin=False,
                )
                if channel.channel == EMAIL_MARKETING:
                    profile.consent.lift(LIFTED_BY_SUBSCRIBE)
                    if request.list_id:
                        profile.consent.lift_list(request.list_id)
            store.touch(profile)
        if klist is not None and not pending:
            store.add_to_list(klist, profile)


def confirm_double_opt_in(store: Store, profile: Profile) -> bool:
    """The profile confirms its pending double opt-in(s): email consent becomes SUBSCRIBED."""
    with store.lock:
        pending, profile.consent.pending = profile.consent.pending, []
        if not pending:
            return False
        at = now()
        last = pending[-1]
        profile.consent.record(
            EMAIL_MARKETING,
            SUBSCRIBED,
            at,
            method=API_METHOD,
            custom_method_detail=last.custom_source,
            double_optin=True,
        )
        profile.consent.lift(LIFTED_BY_SUBSCRIBE)
        store.touch(profile)
    for item in pending:
        klist = store.lists.get(item.list_id) if item.list_id else None
        if klist is not None:
            profile.consent.lift_list(klist.id)
            store.add_to_list(klist, profile)
    return True


def unsubscribe(store: Store, request: ConsentRequest) -> None:
    at = now()
    klist = store.lists.get(request.list_id) if request.list_id else None
    for change in request.profiles:
        profile = resolve(store, change)
        if profile is None:
            continue
        member = klist is not None and profile.id in klist.members
        with store.lock:
            for channel in change.channels:
                if channel.channel == EMAIL_MARKETING and member and klist is not None:
                    profile.consent.suppress_list(klist.id, "UNSUBSCRIBE", at)
                    continue
                profile.consent.record(channel.channel, UNSUBSCRIBED, at, method=API_METHOD)
                if channel.channel == EMAIL_MARKETING:
                    profile.consent.suppress("UNSUBSCRIBE", at)
                    profile.consent.pending = []
            store.touch(profile)
        if member and klist is not None:
            store.remove_from_list(klist, profile)


def suppress_email(
    store: Store, email: str, reason: str = USER_SUPPRESSED, at: datetime | None = None
) -> bool:
    """Suppress an email's profile (created if unknown); False if it already had that suppression."""
    owner = store.owner("email", email)
    profile = store.profiles[owner] if owner is not None else store.create_profile({"email": email})
    with store.lock:
        added = profile.consent.suppress(reason, at or now())
        if added:
            store.touch(profile)
    return added


def unsuppress_email(store: Store, email: str) -> bool:
    """Lift an email's USER_SUPPRESSED suppression; False when there was nothing to lift."""
    owner = store.owner("email", email)
    if owner is None:
        return False  # "If a profile is not found with the given email, no action will be taken."
    profile = store.profiles[owner]
    with store.lock:
        lifted = profile.consent.lift(LIFTED_BY_UNSUPPRESS)
        if lifted:
            store.touch(profile)
    return lifted
