"""Categories and products as one projection each, for the engine (see :mod:`.catalog`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crmsync.mapping.catalog import CatalogRules, category_payload, product_payload


@dataclass(frozen=True)
class CatalogProjection:
    payload: dict[str, Any]
    identifiers: dict[str, str]
    warnings: list[str] = field(default_factory=list)


class CatalogProjector:
    """``project(record)`` like the contract :class:`~crmsync.mapping.Projector`: a category becomes
    a catalog category, a product projection a catalog item; the external id is the source id."""

    def __init__(self, kind: Literal["category", "product"], rules: CatalogRules | None = None) -> None:
        self.kind = kind
        self.rules = rules or CatalogRules()

    def project(self, record: Mapping[str, Any]) -> CatalogProjection:
        build = category_payload if self.kind == "category" else product_payload
        payload = build(record, self.rules)
        return CatalogProjection(payload, {"external_id": str(payload["external_id"])})
