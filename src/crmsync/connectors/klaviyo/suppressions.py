"""Honouring Klaviyo's suppressions when the shop subscribes someone (seed 002: the CRM enforces).

Klaviyo's bulk subscribe "will remove any ``UNSUBSCRIBE``, ``SPAM_REPORT`` or ``USER_SUPPRESSED``
suppressions from the provided profiles" (spec, ``bulk_subscribe_profiles``). A backfill of old
shop opt-ins would thereby undo a newer "no" given in Klaviyo — a spam report, an unsubscribe link,
a manual suppression. So before an e-mail subscription the profiles' suppressions are read
(``GET /api/profiles?filter=any(email,[...])&additional-fields[profile]=subscriptions``, 100 e-mails
per request) and a subscription is held back when such a suppression is at least as recent as the
shop's consent, or when the shop's consent has no time. A consent given after the suppression (the
person opted in again) goes through and lifts it, as Klaviyo intends. ``HARD_BOUNCE`` and
``INVALID_EMAIL`` are never lifted by a subscribe, so they need no check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from crmsync.connectors.klaviyo.changes import parse_time
from crmsync.connectors.klaviyo.client import KlaviyoClient
from crmsync.connectors.klaviyo.lists import filter_literal
from crmsync.ports import JSON

#: suppressions a bulk subscribe removes (the others stay whatever is sent). The prose says
#: SPAM_REPORT; the reason enum (``EmailMarketingSuppression``) calls it SPAM_COMPLAINT: both count.
LIFTED_BY_SUBSCRIBE = frozenset({"UNSUBSCRIBE", "SPAM_COMPLAINT", "SPAM_REPORT", "USER_SUPPRESSED"})
EMAILS_PER_LOOKUP = 100  # get_profiles page[size] maximum: one page answers one lookup
LOOKUPS_IN_FLIGHT = 8  # within get_profiles' 75/s burst; the shared rate budget paces them anyway


async def liftable_suppressions(
    client: KlaviyoClient, emails: Sequence[str]
) -> dict[str, tuple[str, datetime]]:
    """``{email (lower case): (reason, when)}``: the newest suppression a subscribe would remove."""
    out: dict[str, tuple[str, datetime]] = {}
    unique = sorted({e.strip().lower() for e in emails if e and e.strip()})
    gate = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)

    async def lookup(chunk: list[str]) -> JSON:
        literal = "[" + ",".join(filter_literal(e) for e in chunk) + "]"
        async with gate:
            response = await client.request(
                "GET",
                "/api/profiles",
                params={
                    "filter": f"any(email,{literal})",
                    "additional-fields[profile]": "subscriptions",
                    "fields[profile]": "email,subscriptions",
                    "page[size]": str(EMAILS_PER_LOOKUP),
                },
                operation="get_profiles",
            )
        return response.body or {}

    chunks = [unique[i : i + EMAILS_PER_LOOKUP] for i in range(0, len(unique), EMAILS_PER_LOOKUP)]
    for body in await asyncio.gather(*(lookup(chunk) for chunk in chunks)):
        for profile in body.get("data") or []:
            attrs = profile.get("attributes") or {} if isinstance(profile, dict) else {}
            email = attrs.get("email")
            marketing = ((attrs.get("subscriptions") or {}).get("email") or {}).get("marketing") or {}
            for entry in marketing.get("suppression") or []:
                reason, when = entry.get("reason"), parse_time(entry.get("timestamp"))
                if not isinstance(email, str) or reason not in LIFTED_BY_SUBSCRIBE or when is None:
                    continue
                key = email.lower()
                if key not in out or when > out[key][1]:
                    out[key] = (str(reason), when)
    return out


def holds_back(suppression: tuple[str, datetime] | None, consented_at: datetime | None) -> str | None:
    """Why a subscription must not be sent (a note for the conflict log), or None to send it."""
    if suppression is None:
        return None
    reason, when = suppression
    if consented_at is not None and consented_at > when:
        return None  # opted in again after the suppression: the newer consent stands
    given = f"given {consented_at.isoformat()}" if consented_at else "without a time"
    return (
        f"kept Klaviyo's {reason} suppression of {when.isoformat()}: the shop's e-mail consent "
        f"({given}) is not newer, and subscribing would lift it"
    )
