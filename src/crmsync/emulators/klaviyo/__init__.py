"""Faithful local Klaviyo API server (aiohttp.web on 127.0.0.1).

Implements the profile, bulk profile import, consent (subscribe / unsubscribe / suppress),
data-privacy deletion, event, metric, list and catalog endpoints with Klaviyo's
headers, JSON:API documents and errors, filter language, cursor pagination and per-endpoint rate
limits (from the spec's ``x-klaviyo-ratelimit``, packaged as ``ratelimits.json``).
"""

from crmsync.emulators.klaviyo.context import RequestRecord
from crmsync.emulators.klaviyo.emulator import KlaviyoEmulator, serve

__all__ = ["KlaviyoEmulator", "RequestRecord", "serve"]
