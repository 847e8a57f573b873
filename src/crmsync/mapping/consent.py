"""Consent per channel from commercetools customer custom fields (names configurable).

Canonical consent: ``{channel: {"status": "subscribed" | "unsubscribed", "at": ISO time | None,
"source": "commercetools", "store": store key | None}}`` for ``email_marketing``,
``sms_marketing`` and ``sms_transactional``. A channel whose field is absent is left out (never
asked: nothing to send). Booleans, and the strings ``subscribed``/``unsubscribed``,
``yes``/``no``, ``true``/``false`` (any case) are understood; anything else is a validation error
naming the field. Who owns consent is the flow's decision (``owner``): with ``crm``, the shop's
flags are never sent — the CRM is the enforcement layer (seed 002).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crmsync.errors import RecordValidationError

CHANNELS = ("email_marketing", "sms_marketing", "sms_transactional")
Channel = Literal["email_marketing", "sms_marketing", "sms_transactional"]
_YES = {"subscribed", "yes", "true", "1", "opt-in", "optin"}
_NO = {"unsubscribed", "no", "false", "0", "opt-out", "optout"}


class ChannelField(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(description="custom field holding the flag")
    at_field: str | None = Field(default=None, description="custom field holding when it was given/withdrawn")


class ConsentRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: Literal["shop", "crm"] = Field(
        default="shop", description="shop: commercetools flags reach the CRM; crm: they never overwrite it"
    )
    channels: dict[Channel, ChannelField] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            "email_marketing": ChannelField(field="newsletterOptIn", at_field="newsletterOptInAt"),
            "sms_marketing": ChannelField(field="smsOptIn", at_field="smsOptInAt"),
        }
    )
    store_lists: bool = Field(default=False, description="subscribing also joins a list per store")
    list_name: str = Field(default="{store} newsletter", description="{store}: the store key")


def _status(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "subscribed" if value else "unsubscribed"
    text = str(value).strip().lower()
    if text in _YES:
        return "subscribed"
    if text in _NO:
        return "unsubscribed"
    raise RecordValidationError(
        f"consent field {field} holds {str(value)[:40]!r}, not a yes/no flag", field=field
    )


def consent_of(customer: Mapping[str, Any], rules: ConsentRules) -> dict[str, dict[str, Any]]:
    fields = (customer.get("custom") or {}).get("fields") or {}
    stores = [s.get("key") for s in customer.get("stores") or [] if isinstance(s, Mapping)]
    store = stores[0] if stores and isinstance(stores[0], str) else None
    out: dict[str, dict[str, Any]] = {}
    for channel, source in rules.channels.items():
        status = _status(fields.get(source.field), f"custom.fields.{source.field}")
        if status is None:
            continue
        at = fields.get(source.at_field) if source.at_field else None
        out[channel] = {
            "status": status,
            "at": at if isinstance(at, str) and at else None,
            "source": "commercetools",
            "store": store,
        }
    return out
