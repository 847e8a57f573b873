"""Realistic CustomerDrafts and live update actions for the demo, the benchmarks and the tests.

``generate_customer_drafts(n, seed)`` is deterministic per seed. Customers come from DE, GB, FR, US,
SE and NL with consistent ``locale`` and ``stores``, unique emails, unique valid phone numbers in
mixed notations, 0–3 keyed addresses, and a spread of address-role shapes so consumers' fallback
rules get exercised: default billing address set / only ``billingAddresses`` / neither.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from .seed_data import COUNTRIES, COUNTRY_WEIGHTS, City, Country, format_number, national_number, postal_code

PROFILE_TYPE = {"typeId": "type", "key": "customer-profile"}
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
CATEGORIES = ("shoes", "outdoor", "electronics", "home", "beauty", "kids", "sports", "books")
_COUNTRY_CODES = tuple(COUNTRY_WEIGHTS)
_COUNTRY_CUM_WEIGHTS = tuple(
    sum(COUNTRY_WEIGHTS[c] for c in _COUNTRY_CODES[: i + 1]) for i in range(len(_COUNTRY_CODES))
)
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def _birth_date(rng: random.Random, first_year: int, last_year: int) -> str:
    return f"{rng.randint(first_year, last_year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_GERMAN)).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch in ".-")


class _Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.emails: set[str] = set()
        self.numbers: set[str] = set()

    def country(self) -> Country:
        return COUNTRIES[self.rng.choices(_COUNTRY_CODES, cum_weights=_COUNTRY_CUM_WEIGHTS)[0]]

    def email(self, country: Country, first: str, last: str) -> str:
        local = f"{_ascii(first)}.{_ascii(last).replace(' ', '')}"
        domain = self.rng.choice(country.domains)
        candidate = f"{local}@{domain}"
        while candidate in self.emails:
            candidate = f"{local}{self.rng.randint(1, 9999)}@{domain}"
        self.emails.add(candidate)
        return candidate

    def phone(self, country: Country, city: City, mobile: bool) -> str:
        while True:
            nsn, group = national_number(country, self.rng, mobile=mobile, city=city)
            if nsn not in self.numbers:
                self.numbers.add(nsn)
                break
        style = self.rng.choices(("international", "e164", "national"), cum_weights=(70, 90, 100))[0]
        return format_number(country, nsn, style, group)

    def address(self, country: Country, first: str, last: str, key: str, *, phones: bool) -> dict[str, Any]:
        rng = self.rng
        city = rng.choice(country.cities)
        address: dict[str, Any] = {
            "key": key,
            "firstName": first,
            "lastName": last,
            "streetName": rng.choice(country.streets),
            "streetNumber": str(rng.randint(1, 250)) + rng.choice(("", "", "", "a", "b")),
            "postalCode": postal_code(country, city, rng),
            "city": city.name,
            "region": city.region,
            "country": country.code,
        }
        if country.code == "US":
            address["state"] = city.region
        if rng.random() < 0.25:
            address["apartment"] = str(rng.randint(1, 40))
        if rng.random() < 0.15:
            address["building"] = rng.choice(("Haus B", "Tower 2", "Block C", "Annex"))
        if rng.random() < 0.2:
            address["additionalStreetInfo"] = rng.choice(
                ("Hinterhaus", "2nd floor", "c/o Reception", "Rear entrance")
            )
        if rng.random() < 0.15:
            address["additionalAddressInfo"] = rng.choice(
                ("Leave at the door", "Ring twice", "Deliver after 5pm")
            )
        if phones:
            if rng.random() < 0.85:
                address["mobile"] = self.phone(country, city, mobile=True)
            if rng.random() < 0.45:
                address["phone"] = self.phone(country, city, mobile=False)
        return address

    def custom(self, country: Country) -> dict[str, Any]:
        rng = self.rng
        fields: dict[str, Any] = {
            "loyaltyTier": rng.choices(LOYALTY_TIERS, cum_weights=(50, 80, 95, 100))[0],
            "newsletterOptIn": rng.random() < 0.6,
        }
        if rng.random() < 0.7:
            fields["loyaltyPoints"] = rng.randint(0, 20000)
        if rng.random() < 0.6:
            fields["preferredStore"] = country.store
        if rng.random() < 0.7:
            fields["favouriteCategory"] = rng.choice(CATEGORIES)
        return {"type": dict(PROFILE_TYPE), "fields": fields}

    def draft(self, index: int) -> dict[str, Any]:
        rng = self.rng
        country = self.country()
        first, last = rng.choice(country.first_names), rng.choice(country.last_names)
        key = f"customer-{index:06d}"
        draft: dict[str, Any] = {
            "key": key,
            "email": self.email(country, first, last),
            "firstName": first,
            "lastName": last,
        }
        if rng.random() < 0.1:
            draft["authenticationMode"] = "ExternalAuth"
        else:
            draft["password"] = f"Secret-{rng.randrange(16**8):08x}"
        if rng.random() < 0.5:
            draft["salutation"] = rng.choice(country.salutations)
        if rng.random() < 0.15:
            draft["title"] = rng.choice(country.titles)
        if rng.random() < 0.1:
            draft["middleName"] = rng.choice(country.first_names)
        if rng.random() < 0.7:
            draft["dateOfBirth"] = _birth_date(rng, 1945, 2006)
        if rng.random() < 0.2:
            draft["companyName"] = f"{last} {rng.choice(('GmbH', 'Ltd', 'SARL', 'Inc.', 'AB', 'B.V.'))}"
            draft["vatId"] = f"{country.code}{rng.randint(100000000, 999999999)}"
        if rng.random() < 0.5:
            draft["customerNumber"] = f"CN-{100000 + index}"
        if rng.random() < 0.3:
            draft["externalId"] = f"crm-{rng.randrange(16**10):010x}"
        draft["locale"] = country.locale
        draft["stores"] = [{"typeId": "store", "key": country.store}]
        draft["isEmailVerified"] = rng.random() < 0.7
        self.add_addresses(draft, country, first, last, key)
        if rng.random() < 0.85:
            draft["custom"] = self.custom(country)
            if draft["custom"]["fields"].get("newsletterOptIn"):
                # when the opt-in was given: derived from the index, so the random stream (and every
                # other generated value) stays what it was before this field existed
                day = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(
                    days=(index * 7919) % 650, minutes=index % 1440
                )
                draft["custom"]["fields"]["newsletterOptInAt"] = day.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return draft

    def add_addresses(self, draft: dict[str, Any], country: Country, first: str, last: str, key: str) -> None:
        rng = self.rng
        count = rng.choices((0, 1, 2, 3), cum_weights=(5, 50, 85, 100))[0]
        if count == 0:
            return
        kinds = ("home", "work", "billing")[:count]
        draft["addresses"] = [
            self.address(country, first, last, f"{key}-{kind}", phones=position == 0 or rng.random() < 0.3)
            for position, kind in enumerate(kinds)
        ]
        if kinds[-1] == "work" or (count > 1 and rng.random() < 0.5):
            draft["addresses"][1]["company"] = draft.get("companyName", f"{last} & Partner")
        shape = rng.random()
        if shape < 0.55:
            draft["defaultBillingAddress"] = count - 1
            draft["defaultShippingAddress"] = 0
        elif shape < 0.8:
            draft["billingAddresses"] = list(range(count - 1, -1, -1))[: rng.randint(1, count)]
            draft["shippingAddresses"] = [0]
        elif shape < 0.9:
            draft["defaultShippingAddress"] = 0
        if count > 1 and rng.random() < 0.3 and "billingAddresses" not in draft:
            draft["billingAddresses"] = [count - 1]


def generate_customer_drafts(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` realistic, unique CustomerDrafts; the same seed always gives the same drafts."""
    generator = _Generator(random.Random(seed))
    return [generator.draft(index) for index in range(n)]


def _country_of(customer: dict[str, Any]) -> Country:
    for address in customer.get("addresses", ()):
        if address.get("country") in COUNTRIES:
            return COUNTRIES[address["country"]]
    locale = customer.get("locale") or ""
    return next((c for c in COUNTRIES.values() if c.locale == locale), COUNTRIES["DE"])


def _other(rng: random.Random, options: tuple[str, ...] | list[str], current: Any) -> str:
    """A random option different from ``current`` (so the update really changes something)."""
    return rng.choice([o for o in options if o != current] or list(options))


def _base_address(address: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in address.items() if k not in ("id", "custom")}


def generate_update_actions(customer: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """One realistic live change (1–3 update actions) that is valid for ``customer`` as it is now."""
    country = _country_of(customer)
    generator = _Generator(rng)
    addresses = customer.get("addresses", [])
    choices = ["setFirstName", "setLastName", "setCustomField", "setLocale", "addAddress", "setTitle",
               "setCompanyName", "setDateOfBirth", "changeEmail", "setMiddleName"]  # fmt: skip
    if addresses:
        choices += ["changeAddress", "changeAddress", "changeAddress"]
    if len(addresses) > 1:
        choices.append("setDefaultBillingAddress")
    picked = list(dict.fromkeys(rng.sample(choices, k=rng.randint(1, 3))))
    actions: list[dict[str, Any]] = []
    for name in picked:
        if name == "setFirstName":
            actions.append(
                {"action": name, "firstName": _other(rng, country.first_names, customer.get("firstName"))}
            )
        elif name == "setLastName":
            actions.append(
                {"action": name, "lastName": _other(rng, country.last_names, customer.get("lastName"))}
            )
        elif name == "setMiddleName":
            actions.append(
                {"action": name, "middleName": _other(rng, country.first_names, customer.get("middleName"))}
            )
        elif name == "setTitle":
            actions.append({"action": name, "title": _other(rng, country.titles, customer.get("title"))})
        elif name == "setCompanyName":
            actions.append(
                {
                    "action": name,
                    "companyName": f"{rng.choice(country.last_names)} {rng.choice(('GmbH', 'Ltd', 'AB'))}",
                }
            )
        elif name == "setDateOfBirth":
            actions.append(
                {
                    "action": name,
                    "dateOfBirth": _birth_date(rng, 1950, 2005),
                }
            )
        elif name == "setLocale":
            locales = [c.locale for c in COUNTRIES.values()]
            actions.append({"action": name, "locale": _other(rng, locales, customer.get("locale"))})
        elif name == "changeEmail":
            local, _, domain = customer["email"].partition("@")
            actions.append(
                {"action": name, "email": f"{local.split('+')[0]}+{rng.randrange(16**8):08x}@{domain}"}
            )
        elif name == "setCustomField":
            actions.append(_custom_field_action(customer, generator, country, rng))
        elif name == "addAddress":
            key = f"{customer.get('key') or customer['id'][:8]}-extra-{rng.randrange(16**6):06x}"
            first, last = customer.get("firstName", ""), customer.get("lastName", "")
            actions.append(
                {"action": name, "address": generator.address(country, first, last, key, phones=True)}
            )
        elif name == "changeAddress":
            target = rng.choice(addresses)
            fresh = generator.address(
                country,
                target.get("firstName", ""),
                target.get("lastName", ""),
                target.get("key", "x"),
                phones=True,
            )
            changed = _base_address(target)
            for field in rng.sample(
                ["streetName", "streetNumber", "mobile", "phone", "apartment", "city"], k=2
            ):
                if field == "city":
                    changed.update({k: fresh[k] for k in ("city", "postalCode", "region") if k in fresh})
                elif field in fresh:
                    changed[field] = fresh[field]
            if "key" not in target:
                changed.pop("key", None)
            actions.append({"action": name, "addressId": target["id"], "address": changed})
        elif name == "setDefaultBillingAddress":
            ids = [a["id"] for a in addresses]
            actions.append(
                {"action": name, "addressId": _other(rng, ids, customer.get("defaultBillingAddressId"))}
            )
    return actions


def _custom_field_action(
    customer: dict[str, Any], generator: _Generator, country: Country, rng: random.Random
) -> dict[str, Any]:
    custom = customer.get("custom")
    if custom is None:
        return {"action": "setCustomType", **generator.custom(country)}
    field = rng.choice(("loyaltyTier", "newsletterOptIn", "loyaltyPoints", "favouriteCategory"))
    current = custom.get("fields", {}).get(field)
    value: Any
    if field == "loyaltyTier":
        value = rng.choice([t for t in LOYALTY_TIERS if t != current])
    elif field == "newsletterOptIn":
        value = not current
    elif field == "loyaltyPoints":
        value = (current or 0) + rng.randint(10, 500)
    else:
        value = rng.choice([c for c in CATEGORIES if c != current])
    return {"action": "setCustomField", "name": field, "value": value}
