"""commercetools source connector: customers, orders, categories and products by keyset pages, by
ids, from the Messages API feed and from pushed Subscription deliveries (Pub/Sub push, Platform and
CloudEvents payloads).

``create(name, settings)`` is what the connector registry calls for ``type: commercetools``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from crmsync.connectors.commercetools.ingress import parse_ingress
from crmsync.connectors.commercetools.settings import CommercetoolsSettings
from crmsync.connectors.commercetools.source import CommercetoolsConnector
from crmsync.errors import ConfigError
from crmsync.ports import RateLimiter, RequestObserver

__all__ = ["CommercetoolsConnector", "CommercetoolsSettings", "create", "parse_ingress"]


def create(
    name: str,
    settings: Mapping[str, Any],
    observer: RequestObserver | None = None,
    limiter: RateLimiter | None = None,
) -> CommercetoolsConnector:
    """Validate ``settings`` (the connection block) and build the connector.

    ``limiter`` is accepted for a uniform factory signature and not used: commercetools publishes
    no request-rate limit for its HTTP API; its 502/503 guidance (back off) is what the client follows.

    Invalid settings raise :class:`ConfigError` naming the setting as ``connections.<name>.<field>``;
    the message never echoes the value (it may be a secret).
    """
    try:
        parsed = CommercetoolsSettings.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        location = ".".join(str(part) for part in errors[0]["loc"])
        message = errors[0]["msg"]
        if len(errors) > 1:
            others = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[1:])
            message += f" (also: {others})"
        path = f"connections.{name}.{location}" if location else f"connections.{name}"
        raise ConfigError(message, path=path) from None
    return CommercetoolsConnector(name, parsed, observer)


SETTINGS_MODEL = CommercetoolsSettings
