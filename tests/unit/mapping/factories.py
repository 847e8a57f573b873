"""Hand-built commercetools customers for the mapping tests (shape: apis.md §1.4)."""

from __future__ import annotations

import copy
from typing import Any

BERLIN = {
    "id": "addr-berlin",
    "country": "DE",
    "streetName": "Friedrichstraße",
    "streetNumber": "43",
    "building": "Haus B",
    "apartment": "App. 4",
    "additionalStreetInfo": "Hinterhof",
    "additionalAddressInfo": "c/o Muster",
    "postalCode": "10117",
    "city": "Berlin",
    "region": "Berlin",
    "mobile": "0151 23456789",
    "phone": "030 1234567",
}
LONDON = {
    "id": "addr-london",
    "country": "GB",
    "streetName": "Baker Street",
    "streetNumber": "221B",
    "postalCode": "NW1 6XE",
    "city": "London",
    "phone": "020 7946 0018",
}
STOCKHOLM = {
    "id": "addr-stockholm",
    "country": "SE",
    "streetName": "Drottninggatan",
    "streetNumber": "1",
    "postalCode": "111 51",
    "city": "Stockholm",
    "mobile": "070-123 45 67",
}


def make_customer(**overrides: Any) -> dict[str, Any]:
    """A commercetools Customer as the API returns it (see apis.md §1.4)."""
    customer: dict[str, Any] = {
        "id": "6f1d2c3b-0000-4000-8000-000000000001",
        "version": 3,
        "key": "cust-1",
        "customerNumber": "C-1001",
        "createdAt": "2024-01-02T10:00:00.000Z",
        "lastModifiedAt": "2024-01-02T10:00:00.000Z",
        "email": "Jane.Doe@Example.COM",
        "firstName": "Jane",
        "lastName": "Doe",
        "title": "Dr.",
        "companyName": "ACME GmbH",
        "addresses": [copy.deepcopy(BERLIN), copy.deepcopy(LONDON), copy.deepcopy(STOCKHOLM)],
        "shippingAddressIds": [],
        "billingAddressIds": [],
        "isEmailVerified": True,
        "stores": [{"typeId": "store", "key": "eu"}],
        "locale": "de-DE",
        "authenticationMode": "Password",
        "customerGroupAssignments": [],
    }
    customer.update(overrides)
    return customer
