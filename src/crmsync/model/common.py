"""Value objects shared by every canonical record."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)


class ExternalId(_Model):
    """One identifier of a record in one system, e.g. (commercetools, id, 3cd...)."""

    system: str = Field(min_length=1)
    kind: str = Field(min_length=1, description="id | key | customerNumber | external_id | profile_id ...")
    value: str = Field(min_length=1)


class Identifiers(_Model):
    """Identifiers per system: ``{"commercetools": {"id": "...", "key": "..."}, "klaviyo": {...}}``."""

    by_system: dict[str, dict[str, str]] = Field(default_factory=dict)

    def get(self, system: str, kind: str = "id") -> str | None:
        return self.by_system.get(system, {}).get(kind)

    def set(self, system: str, kind: str, value: str) -> None:
        self.by_system.setdefault(system, {})[kind] = value

    def all(self) -> list[ExternalId]:
        return [
            ExternalId(system=s, kind=k, value=v)
            for s, kinds in sorted(self.by_system.items())
            for k, v in sorted(kinds.items())
        ]


class Context(_Model):
    """Storefront context a record was created or last seen in."""

    store: str | None = None
    stores: list[str] = Field(default_factory=list)
    locale: str | None = None
    currency: CurrencyCode | None = None
    channel: str | None = None


class Address(_Model):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: CountryCode | None = None
    company: str | None = None
    phone: str | None = None
    kind: str | None = Field(default=None, description="billing | shipping | main ...")


class ContactMethods(_Model):
    email: str | None = None
    phone: str | None = Field(default=None, description="E.164")
    mobile: str | None = Field(default=None, description="E.164")

    @field_validator("phone", "mobile")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        if v is not None and not (v.startswith("+") and v[1:].isdigit() and 8 <= len(v) <= 16):
            raise ValueError(f"not an E.164 phone number: {v!r}")
        return v


class ConsentChannel(enum.StrEnum):
    EMAIL_MARKETING = "email_marketing"
    SMS_MARKETING = "sms_marketing"
    SMS_TRANSACTIONAL = "sms_transactional"


class ConsentStatus(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    NEVER_SUBSCRIBED = "never_subscribed"


class Consent(_Model):
    channel: ConsentChannel
    status: ConsentStatus
    timestamp: datetime | None = None
    source: str | None = Field(default=None, description="system that recorded it, e.g. commercetools")
    store: str | None = None
