"""Connector registry: a connection's ``type`` → its package, imported lazily.

Adding a system means adding a package here (see CONTRIBUTING.md, "Add a connector"); the engine
never changes. Each package exports ``create(name, settings, observer=None)`` and ``SETTINGS_MODEL``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from crmsync.errors import ConfigError
from crmsync.ports import Connector, RateLimiter, RequestObserver

_PACKAGES: dict[str, str] = {
    "commercetools": "crmsync.connectors.commercetools",
    "klaviyo": "crmsync.connectors.klaviyo",
}


def connector_types() -> list[str]:
    return sorted(_PACKAGES)


def _module(type_name: str, path: str) -> ModuleType:
    if type_name not in _PACKAGES:
        raise ConfigError(
            f"unknown connection type {type_name!r}; expected one of {', '.join(connector_types())}",
            path=path,
        )
    return importlib.import_module(_PACKAGES[type_name])


def settings_model(type_name: str, path: str = "type") -> type[BaseModel]:
    model = _module(type_name, path).SETTINGS_MODEL
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def create_connector(
    name: str,
    settings: Mapping[str, Any],
    observer: RequestObserver | None = None,
    limiter: RateLimiter | None = None,
) -> Connector:
    type_name = str(settings.get("type", ""))
    module = _module(type_name, f"connections.{name}.type")
    connector = module.create(name, settings, observer, limiter)
    assert isinstance(connector, Connector)
    return connector
