"""Klaviyo's published rate limits for the operations this connector calls.

From each operation's ``x-klaviyo-ratelimit`` in the OpenAPI spec (revision 2026-07-15): ``burst``
per 1-second window and ``steady`` per 1-minute window, per account. A test checks this table
against the spec. ``RateLimit-*`` response headers, when Klaviyo sends them, lower a bucket's
budget at run time (see :meth:`KlaviyoClient`), never raise it.
"""

from __future__ import annotations

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
}
DEFAULT_LIMITS: Final[Limits] = ((3, 1.0), (60, 60.0))  # the smallest published tier (XS/S), for safety


def limits_for(operation: str | None) -> Limits:
    return OPERATION_LIMITS.get(operation or "", DEFAULT_LIMITS)
