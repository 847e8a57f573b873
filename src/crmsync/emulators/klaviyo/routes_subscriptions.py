"""Bulk subscribe / unsubscribe profiles (the "Consent" endpoints): validate, answer 202, apply.

``POST /api/profile-subscription-bulk-create-jobs`` (bulk_subscribe_profiles) and
``POST /api/profile-subscription-bulk-delete-jobs`` (bulk_unsubscribe_profiles) answer **202 with an
empty body** (the spec declares no response content and no GET for these jobs). The request is
validated synchronously (:mod:`.consent_validation`: 400 with ``source.pointer``, 404 for an unknown
list) and applied by :mod:`.consent_apply` after the emulator's ``processing_lag_seconds`` (0 by
default: before the answer), so a client cannot tell when the change lands — as on the real API,
where these are asynchronous jobs.
"""

from __future__ import annotations

from aiohttp import web

from crmsync.emulators.klaviyo import consent_apply
from crmsync.emulators.klaviyo.consent_validation import subscribe_request, unsubscribe_request
from crmsync.emulators.klaviyo.context import MB, accepted, context, read_json
from crmsync.emulators.klaviyo.validation import resource

SUBSCRIBE_TYPE = "profile-subscription-bulk-create-job"
UNSUBSCRIBE_TYPE = "profile-subscription-bulk-delete-job"
#: The spec states no payload limit for these; the API-wide 5 MB applies.
MAX_REQUEST_BYTES = 5 * MB


async def bulk_subscribe_profiles(request: web.Request) -> web.Response:
    ctx = context(request)
    data = resource(await read_json(request, MAX_REQUEST_BYTES), SUBSCRIBE_TYPE)
    parsed = subscribe_request(data, ctx.store)
    ctx.jobs.later(
        ctx.jobs.processing_lag, lambda: consent_apply.subscribe(ctx.store, parsed), "klaviyo-subscribe"
    )
    return accepted()


async def bulk_unsubscribe_profiles(request: web.Request) -> web.Response:
    ctx = context(request)
    data = resource(await read_json(request, MAX_REQUEST_BYTES), UNSUBSCRIBE_TYPE)
    parsed = unsubscribe_request(data, ctx.store)
    ctx.jobs.later(
        ctx.jobs.processing_lag, lambda: consent_apply.unsubscribe(ctx.store, parsed), "klaviyo-unsubscribe"
    )
    return accepted()
