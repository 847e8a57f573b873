"""The canonical model: typed records every connector maps to and from."""

from crmsync.model.common import (
    Address,
    Consent,
    ConsentChannel,
    ConsentStatus,
    ContactMethods,
    Context,
    ExternalId,
    Identifiers,
)
from crmsync.model.party import Company, Person

__all__ = [
    "Address",
    "Company",
    "Consent",
    "ConsentChannel",
    "ConsentStatus",
    "ContactMethods",
    "Context",
    "ExternalId",
    "Identifiers",
    "Person",
]
