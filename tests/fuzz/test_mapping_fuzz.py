"""Property tests for the mapping layer: arbitrary customers, hashing and diffing."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.errors import RecordValidationError
from crmsync.mapping import Projector, diff_payloads, load_contract, projection_hash
from crmsync.mapping.payload import same_value

PROJECTOR = Projector(load_contract("default"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
phones = st.sampled_from(["0151 23456789", "030 1234567", "+44 20 7946 0018", "12", "abc", "", "   "])
countries = st.sampled_from(["DE", "GB", "US", "SE", "deu", "XX", "", "Germany"])
emails = st.sampled_from(["Jane@Example.com", " a@b.co ", "broken@", "", "x@localhost", "ÜBER@bücher.de"])
ids = st.one_of(st.text(max_size=10), st.sampled_from(["a1", "a2", "a3"]), json_values)


def _plausible_or_any(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(plausible, json_values)


address = st.fixed_dictionaries(
    {},
    optional={
        "id": ids,
        "country": _plausible_or_any(countries),
        "mobile": _plausible_or_any(phones),
        "phone": _plausible_or_any(phones),
        "streetName": json_values,
        "streetNumber": json_values,
        "building": json_values,
        "apartment": json_values,
        "additionalStreetInfo": json_values,
        "additionalAddressInfo": json_values,
        "city": json_values,
        "region": json_values,
        "postalCode": json_values,
        "company": json_values,
    },
)
customers = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id": _plausible_or_any(st.uuids().map(str)),
            "key": json_values,
            "customerNumber": json_values,
            "externalId": json_values,
            "email": _plausible_or_any(emails),
            "firstName": json_values,
            "lastName": json_values,
            "middleName": json_values,
            "title": json_values,
            "salutation": json_values,
            "companyName": json_values,
            "vatId": json_values,
            "addresses": _plausible_or_any(st.lists(st.one_of(address, json_values), max_size=4)),
            "defaultBillingAddressId": ids,
            "billingAddressIds": _plausible_or_any(st.lists(ids, max_size=3)),
            "custom": _plausible_or_any(st.fixed_dictionaries({"fields": json_values})),
            "stores": _plausible_or_any(st.lists(st.fixed_dictionaries({"key": json_values}), max_size=3)),
            "locale": json_values,
        },
    ),
    st.dictionaries(st.text(max_size=10), json_values, max_size=6),
)


def _blank_free(value: Any) -> bool:
    if isinstance(value, dict):
        return all(
            v is not None and not (isinstance(v, str) and not v.strip()) and v != {} and _blank_free(v)
            for v in value.values()
        )
    if isinstance(value, list):
        return all(_blank_free(v) for v in value)
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=customers)
def test_projector_only_ever_raises_record_validation_error(record: dict[str, Any]) -> None:
    try:
        result = PROJECTOR.project(record)
    except RecordValidationError as exc:
        assert exc.message
        PROJECTOR.source_fields(record)  # previews of rejected records work too
        return
    payload = result.payload
    assert isinstance(payload.get("external_id"), str)
    assert payload.get("email") or payload.get("phone_number")
    assert _blank_free(payload)
    assert all(isinstance(v, str) and v for v in result.identifiers.values())
    assert len(projection_hash(payload)) == 64
    assert isinstance(result.source_fields, dict)
    assert diff_payloads(payload, PROJECTOR.project(record).payload) == []


def _shuffled(value: Any, rnd: Any) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {k: _shuffled(value[k], rnd) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


payloads = st.dictionaries(st.text(max_size=6), json_values, max_size=6)


@given(payload=payloads, rnd=st.randoms(use_true_random=False))
def test_hash_is_key_order_independent(payload: dict[str, Any], rnd: Any) -> None:
    assert projection_hash(_shuffled(payload, rnd)) == projection_hash(payload)


@st.composite
def payload_pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    old = draw(payloads)
    how = draw(st.sampled_from(["same", "shuffled", "edited", "independent"]))
    if how == "same":
        return old, old
    if how == "shuffled":
        return old, _shuffled(old, draw(st.randoms(use_true_random=False)))
    if how == "independent":
        return old, draw(payloads)
    new = dict(old)
    key = draw(st.text(max_size=6))
    if key in new and draw(st.booleans()):
        del new[key]
    else:
        new[key] = draw(json_values)
    return old, new


@given(pair=payload_pairs())
def test_diff_is_empty_iff_payloads_are_equal(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    old, new = pair
    changes = diff_payloads(old, new)
    equal = same_value(old, new)
    assert (changes == []) == equal
    assert (projection_hash(old) == projection_hash(new)) == equal
    assert all(c.kind in ("added", "changed", "removed") for c in changes)
    assert len({c.path for c in changes}) == len(changes)
