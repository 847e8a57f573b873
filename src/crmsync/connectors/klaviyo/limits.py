"""Klaviyo's published rate limits for every operation this connector calls.

From each operation's ``x-klaviyo-ratelimit`` in the OpenAPI spec (revision 2026-07-15): ``burst``
per 1-second window and ``steady`` per 1-minute window, per account. A test checks this table
against the spec. ``RateLimit-*`` response headers, when Klaviyo sends them, lower a bucket's
budget at run time (:class:`LearnedLimits`), never raise it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

Limits = tuple[tuple[int, float], ...]

OPERATION_LIMITS: Final[dict[str, Limits]] = {
    "create_or_update_profile": ((75, 1.0), (750, 60.0)),
    "create_profile": ((75, 1.0), (750, 60.0)),
    "update_profile": ((75, 1.0), (750, 60.0)),
    "get_profile": ((75, 1.0), (750, 60.0)),
    "get_profiles": ((75, 1.0), (750, 60.0)),
    "bulk_import_profiles": ((10, 1.0), (150, 60.0)),
    "get_bulk_import_profiles_job": ((10, 1.0), (150, 60.0)),
    "get_errors_for_bulk_import_profiles_job": ((10, 1.0), (150, 60.0)),
    "get_profiles_for_bulk_import_profiles_job": ((10, 1.0), (150, 60.0)),
    # events (crmsync.connectors.klaviyo.events / event_bulk)
    "create_event": ((350, 1.0), (3500, 60.0)),
    "bulk_create_events": ((10, 1.0), (150, 60.0)),
    # catalog items and categories, one at a time (crmsync.connectors.klaviyo.catalog)
    "create_catalog_item": ((75, 1.0), (750, 60.0)),
    "update_catalog_item": ((75, 1.0), (750, 60.0)),
    "delete_catalog_item": ((75, 1.0), (750, 60.0)),
    "create_catalog_category": ((75, 1.0), (750, 60.0)),
    "update_catalog_category": ((75, 1.0), (750, 60.0)),
    "delete_catalog_category": ((75, 1.0), (750, 60.0)),
    # catalog bulk jobs and their status reads (crmsync.connectors.klaviyo.catalog_bulk); note that
    # the item create/update job reads are L (75/s) while the other job reads are XL (350/s)
    "bulk_create_catalog_items": ((75, 1.0), (750, 60.0)),
    "bulk_update_catalog_items": ((75, 1.0), (750, 60.0)),
    "bulk_delete_catalog_items": ((75, 1.0), (750, 60.0)),
    "bulk_create_catalog_categories": ((75, 1.0), (750, 60.0)),
    "bulk_update_catalog_categories": ((75, 1.0), (750, 60.0)),
    "bulk_delete_catalog_categories": ((75, 1.0), (750, 60.0)),
    "get_bulk_create_catalog_items_job": ((75, 1.0), (750, 60.0)),
    "get_bulk_update_catalog_items_job": ((75, 1.0), (750, 60.0)),
    "get_bulk_delete_catalog_items_job": ((350, 1.0), (3500, 60.0)),
    "get_bulk_create_categories_job": ((350, 1.0), (3500, 60.0)),
    "get_bulk_update_categories_job": ((350, 1.0), (3500, 60.0)),
    "get_bulk_delete_categories_job": ((350, 1.0), (3500, 60.0)),
    # consent, suppressions and lists (crmsync.connectors.klaviyo.consent / lists)
    "bulk_subscribe_profiles": ((75, 1.0), (750, 60.0)),
    "bulk_unsubscribe_profiles": ((75, 1.0), (750, 60.0)),
    "bulk_suppress_profiles": ((75, 1.0), (750, 60.0)),
    "bulk_unsuppress_profiles": ((75, 1.0), (750, 60.0)),
    "get_bulk_suppress_profiles_job": ((75, 1.0), (750, 60.0)),
    "get_bulk_unsuppress_profiles_job": ((75, 1.0), (750, 60.0)),
    "get_lists": ((75, 1.0), (750, 60.0)),
    # create_list also has "daily: 150/d"; lists.KlaviyoLists caches ids so it creates each list once
    "create_list": ((10, 1.0), (150, 60.0)),
    "add_profiles_to_list": ((10, 1.0), (150, 60.0)),
    "remove_profiles_from_list": ((10, 1.0), (150, 60.0)),
    # GDPR erasure (crmsync.connectors.klaviyo.privacy)
    "request_profile_deletion": ((3, 1.0), (60, 60.0)),
}
DEFAULT_LIMITS: Final[Limits] = ((3, 1.0), (60, 60.0))  # the smallest published tier (XS/S), for safety


def limits_for(operation: str | None) -> Limits:
    return OPERATION_LIMITS.get(operation or "", DEFAULT_LIMITS)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        raw = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    if raw is None:
        return None
    try:
        value = int(str(raw).strip().split(",")[0].split(";")[0])
    except ValueError:
        return None
    return value if value >= 0 else None


class LearnedLimits:
    """The published limits, lowered (never raised) by what Klaviyo's ``RateLimit-*`` headers say.

    Klaviyo sends ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds) on
    non-429 responses, describing the tightest of the operation's windows. Two things follow:

    * a ``Limit`` below the table's for the window the ``Reset`` points at (≤ 1 s: the burst
      window, ≤ 60 s: the steady one) replaces it, e.g. an account on a lower tier than the spec's;
    * ``Remaining == 0`` means the window is used up — by us or by another client of the same
      account that our own count cannot see — so :meth:`observe` returns how long to hold the
      bucket (``Reset`` seconds) instead of letting the next request earn a 429.
    """

    def __init__(self) -> None:
        self._lowered: dict[str, Limits] = {}

    def limits(self, operation: str | None) -> Limits:
        return self._lowered.get(operation or "") or limits_for(operation)

    def observe(self, operation: str | None, headers: Mapping[str, str]) -> float | None:
        """Learn from one response's headers; returns seconds to hold the bucket, if any."""
        limit = _header_int(headers, "RateLimit-Limit")
        remaining = _header_int(headers, "RateLimit-Remaining")
        reset = _header_int(headers, "RateLimit-Reset")
        if limit is None or reset is None:
            return None
        current = self.limits(operation)
        window = min((w for _, w in current if w >= reset), default=None)
        if window is not None and limit > 0:
            lowered = tuple((min(c, limit) if w == window else c, w) for c, w in current)
            if lowered != current:
                self._lowered[operation or ""] = lowered
        if remaining == 0 and reset > 0:
            return float(reset)
        return None
