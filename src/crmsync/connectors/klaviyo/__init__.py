"""Klaviyo target connector (profiles, events, catalog), built against API revision 2026-07-15.

Consent, suppressions, lists, GDPR erasure and change polling live in their own classes that take the
connector's client: :class:`KlaviyoConsent`, :class:`KlaviyoLists`, :class:`KlaviyoPrivacy` and
:class:`KlaviyoChanges` (e.g. ``KlaviyoConsent(connector.client, connector.settings)``).

``create(name, settings, observer=None)`` is the factory the connector registry calls with the
``connections.<name>`` block of the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from crmsync.connectors.klaviyo.catalog import CATEGORY_KIND, ITEM_KIND, catalog_id
from crmsync.connectors.klaviyo.changes import KlaviyoChanges
from crmsync.connectors.klaviyo.consent import KlaviyoConsent
from crmsync.connectors.klaviyo.consent_bodies import ConsentChange
from crmsync.connectors.klaviyo.errors import RetryPolicy, error_from_response
from crmsync.connectors.klaviyo.events import EVENT_KIND
from crmsync.connectors.klaviyo.lists import KlaviyoLists
from crmsync.connectors.klaviyo.privacy import KlaviyoPrivacy
from crmsync.connectors.klaviyo.settings import PINNED_REVISION, KlaviyoSettings
from crmsync.connectors.klaviyo.target import CAPABILITIES, PROJECTION_KINDS, KlaviyoConnector
from crmsync.errors import ConfigError
from crmsync.ports import RateLimiter, RequestObserver

__all__ = [
    "CAPABILITIES",
    "CATEGORY_KIND",
    "EVENT_KIND",
    "ITEM_KIND",
    "PINNED_REVISION",
    "PROJECTION_KINDS",
    "ConsentChange",
    "KlaviyoChanges",
    "KlaviyoConnector",
    "KlaviyoConsent",
    "KlaviyoLists",
    "KlaviyoPrivacy",
    "KlaviyoSettings",
    "RetryPolicy",
    "catalog_id",
    "create",
    "error_from_response",
]


def create(
    name: str,
    settings: Mapping[str, Any] | KlaviyoSettings,
    observer: RequestObserver | None = None,
    limiter: RateLimiter | None = None,
) -> KlaviyoConnector:
    """Validate ``settings`` and build the connector; bad settings raise :class:`ConfigError`.

    The error names each offending setting but never repeats its value (the API key is secret).
    """
    if isinstance(settings, KlaviyoSettings):
        return KlaviyoConnector(name, settings, observer, limiter=limiter)
    try:
        parsed = KlaviyoSettings.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(settings)'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        )
        raise ConfigError(problems, path=f"connections.{name}", connection=name) from None
    return KlaviyoConnector(name, parsed, observer, limiter=limiter)


SETTINGS_MODEL = KlaviyoSettings
