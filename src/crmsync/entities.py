"""Entity names as users write them (``customers``) and as the engine knows them (``customer``)."""

from __future__ import annotations

from crmsync.errors import ConfigError

ENTITY_ALIASES = {
    "customers": "customer",
    "customer": "customer",
    "orders": "order",
    "order": "order",
    "categories": "category",
    "category": "category",
    "products": "product",
    "product": "product",
}


def entity_kind(name: str) -> str:
    try:
        return ENTITY_ALIASES[name]
    except KeyError:
        raise ConfigError(
            f"unknown entity {name!r}; expected customers, orders, categories or products"
        ) from None
