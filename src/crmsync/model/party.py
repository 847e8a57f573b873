"""People and companies."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from crmsync.model.common import Address, Consent, ContactMethods, Context, Identifiers, _Model


class Person(_Model):
    """A customer who is a person. The engine's golden record for customer flows."""

    ids: Identifiers = Field(default_factory=Identifiers)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    title: str | None = None
    salutation: str | None = None
    date_of_birth: date | None = None
    organization: str | None = None
    vat_id: str | None = None
    contact: ContactMethods = Field(default_factory=ContactMethods)
    address: Address | None = Field(default=None, description="the address chosen for the CRM")
    addresses: list[Address] = Field(default_factory=list)
    consents: list[Consent] = Field(default_factory=list)
    context: Context = Field(default_factory=Context)
    properties: dict[str, Any] = Field(default_factory=dict, description="custom fields")


class Company(_Model):
    """A customer that is an organisation (B2B)."""

    ids: Identifiers = Field(default_factory=Identifiers)
    name: str
    organization_number: str | None = None
    vat_id: str | None = None
    email: str | None = None
    contact: ContactMethods = Field(default_factory=ContactMethods)
    address: Address | None = None
    addresses: list[Address] = Field(default_factory=list)
    context: Context = Field(default_factory=Context)
    properties: dict[str, Any] = Field(default_factory=dict)
