"""Storefront context on every profile: store, locale, language, currency and channel as
segmentation properties, localized custom values in the customer's locale, per-store lists.

commercetools keeps a customer's context in ``stores`` (store references by key) and ``locale``;
currency and channel belong to a store's settings (its distribution and supply channels, its
countries' prices), so they are configured per store here (``store_currencies``,
``store_channels``). The property names on the profile are configurable; an empty name leaves the
property out. LocalizedString values among the profile's custom properties
(``{"en": ..., "de": ...}``) become the text in the customer's locale, then its language, then the
fallbacks, then the first available.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crmsync.errors import RecordValidationError
from crmsync.mapping.consent import ConsentRules, consent_of
from crmsync.mapping.contract import Contract
from crmsync.mapping.projector import ProjectionResult, Projector
from crmsync.ports import LISTS

_LOCALE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")  # IETF language tags as commercetools uses them
CONTEXT_FIELDS = ("store", "stores", "locale", "language", "currency", "channel")


class SegmentationRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    properties: dict[str, str] = Field(
        default_factory=lambda: {name: name for name in CONTEXT_FIELDS},
        description="context field -> profile property name ('' leaves it out); fields: "
        + ", ".join(CONTEXT_FIELDS),
    )
    store_currencies: dict[str, str] = Field(default_factory=dict, description="store key -> ISO currency")
    store_channels: dict[str, str] = Field(default_factory=dict, description="store key -> channel key")
    fallback_locales: list[str] = Field(default_factory=lambda: ["en"])
    localize_properties: bool = True
    store_lists: bool = Field(
        default=False, description="every customer of a store is a member of the store's list (not consent)"
    )
    list_name: str = Field(default="{store}", description="name of a store's list; {store} is its key")


def store_keys(customer: Mapping[str, Any]) -> list[str]:
    keys = []
    for ref in customer.get("stores") or []:
        if isinstance(ref, Mapping) and isinstance(ref.get("key"), str) and ref["key"]:
            keys.append(ref["key"])
    return keys


def localize(value: Any, locales: list[str]) -> Any:
    """A LocalizedString's text in the first of ``locales`` present (by language too), else any."""
    if not isinstance(value, Mapping) or not value or not all(isinstance(v, str) for v in value.values()):
        return value
    if not all(isinstance(k, str) and _LOCALE.fullmatch(k) for k in value):
        return value  # an object, not a LocalizedString
    for locale in locales:
        if locale in value:
            return value[locale]
        language = locale.split("-")[0]
        for key in (language, *sorted(k for k in value if k.split("-")[0] == language)):
            if key in value:
                return value[key]
    return value[sorted(value)[0]]


def context_of(customer: Mapping[str, Any], rules: SegmentationRules) -> dict[str, Any]:
    stores = store_keys(customer)
    store = stores[0] if stores else None
    locale = customer.get("locale") if isinstance(customer.get("locale"), str) else None
    context: dict[str, Any] = {
        "store": store,
        "stores": stores or None,
        "locale": locale,
        "language": locale.split("-")[0] if locale else None,
        "currency": rules.store_currencies.get(store) if store else None,
        "channel": rules.store_channels.get(store) if store else None,
    }
    return {k: v for k, v in context.items() if v is not None}


def segment_payload(
    customer: Mapping[str, Any], payload: dict[str, Any], rules: SegmentationRules
) -> dict[str, Any]:
    """The profile payload with the context properties added and custom values localized."""
    context = context_of(customer, rules)
    properties = dict(payload.get("properties") or {})
    if rules.localize_properties:
        locales = [x for x in [context.get("locale"), *rules.fallback_locales] if x]
        properties = {k: localize(v, locales) for k, v in properties.items()}
    for name, value in context.items():
        prop = rules.properties.get(name, "")
        if prop:
            properties[prop] = value
    out = dict(payload)
    if properties:
        out["properties"] = properties
    if rules.store_lists:
        names = [rules.list_name.format(store=key) for key in store_keys(customer)]
        if names:
            out[LISTS] = list(dict.fromkeys(names))
    return out


class OwnershipRules(BaseModel):
    """Who owns each attribute of "customer truth" (seed 000/001: no "last write wins").

    ``crm`` lists the target payload paths the CRM owns (``first_name``, ``properties.loyaltyTier``,
    ``location`` ...): the shop's values for them are never sent and never clear the CRM's. Every
    other attribute is the shop's. (Consent has its own owner: ``consent.owner``.)
    """

    model_config = ConfigDict(extra="forbid")
    crm: list[str] = Field(default_factory=list, description="payload paths owned by the CRM")
    two_way: bool = Field(
        default=False,
        description="poll the CRM for profile changes: record the values of CRM-owned attributes, write "
        "them back to the shop (write_back), and restore shop-owned attributes edited in the CRM",
    )
    write_back: dict[str, str] = Field(
        default_factory=dict,
        description="CRM-owned payload path -> shop custom field that receives its value (two_way)",
    )
    restore: bool = Field(
        default=True, description="two_way: an edit in the CRM of a shop-owned attribute is reverted"
    )

    @model_validator(mode="after")
    def _check(self) -> OwnershipRules:
        stray = sorted(set(self.write_back) - set(self.crm))
        if stray:
            raise ValueError(
                f"ownership.write_back names {', '.join(stray)}, which the CRM does not own (ownership.crm)"
            )
        if self.write_back and not self.two_way:
            raise ValueError("ownership.write_back needs ownership.two_way: true (values come from polling)")
        return self


def read_path(payload: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``properties.loyaltyTier``), or None."""
    node: Any = payload
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def withhold(payload: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The payload without the given dotted paths (the attributes this source does not own)."""
    if not paths:
        return payload
    out = dict(payload)
    for path in paths:
        head, _, rest = path.partition(".")
        if not rest:
            out.pop(head, None)
        elif isinstance(out.get(head), dict):
            inner = withhold(out[head], [rest])
            if inner:
                out[head] = inner
            else:
                out.pop(head)
    return out


class SegmentingProjector(Projector):
    """The contract's projection plus the storefront context (:func:`segment_payload`), without the
    attributes the CRM owns (:class:`OwnershipRules`), and, when the shop owns consent, with the
    canonical consent (``payload["consent"]``, see :mod:`.consent`)."""

    def __init__(
        self,
        contract: Contract,
        rules: SegmentationRules,
        consent: ConsentRules | None = None,
        ownership: OwnershipRules | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(contract, **kwargs)
        self.rules = rules
        self.consent = consent
        self.ownership = ownership or OwnershipRules()
        # paths this flow never writes nor clears at the target (the engine reads this)
        self.withheld: tuple[str, ...] = tuple(self.ownership.crm)

    def project(self, source_record: Mapping[str, Any]) -> ProjectionResult:
        result = super().project(source_record)
        full = segment_payload(source_record, result.payload, self.rules)
        payload = withhold(full, list(self.withheld))
        held = {path: value for path in self.withheld if (value := read_path(full, path)) is not None}
        if self.consent is not None and self.consent.owner == "shop":
            try:
                channels = consent_of(source_record, self.consent)
            except RecordValidationError as exc:
                exc.record_key = exc.record_key or result.record_key
                raise
            for state in channels.values():
                if self.consent.store_lists and state.get("store") and state["status"] == "subscribed":
                    state["list"] = self.consent.list_name.format(store=state["store"])
            if channels:
                payload["consent"] = channels
        return dataclasses.replace(result, payload=payload, withheld=held)
