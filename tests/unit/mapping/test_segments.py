"""Storefront context on profiles: store, locale, language, currency, channel; localized values."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crmsync.mapping import load_contract
from crmsync.mapping.segments import SegmentationRules, SegmentingProjector, localize, segment_payload


def customer(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "c-1",
        "version": 1,
        "email": "ada@example.com",
        "firstName": "Ada",
        "locale": "de-AT",
        "stores": [{"typeId": "store", "key": "eu-store"}, {"typeId": "store", "key": "uk-store"}],
        "custom": {
            "type": {"typeId": "type", "id": "t"},
            "fields": {"tier": {"en": "Gold", "de": "Gold DE"}, "newsletter": True},
        },
    }
    base.update(over)
    return base


RULES = SegmentationRules(
    store_currencies={"eu-store": "EUR", "uk-store": "GBP"}, store_channels={"eu-store": "web-eu"}
)


def test_context_becomes_profile_properties_and_values_are_localized() -> None:
    payload = SegmentingProjector(load_contract("default"), RULES).project(customer()).payload
    props = payload["properties"]
    assert props["store"] == "eu-store" and props["stores"] == ["eu-store", "uk-store"]
    assert (props["locale"], props["language"]) == ("de-AT", "de")
    assert (props["currency"], props["channel"]) == ("EUR", "web-eu")
    assert props["tier"] == "Gold DE"  # de-AT -> de
    assert props["newsletter"] is True and payload["external_id"] == "c-1"


def test_property_names_are_configurable_and_can_be_left_out() -> None:
    rules = SegmentationRules(properties={"store": "Shop", "locale": "", "language": "Lang"})
    props = segment_payload(customer(), {"properties": {}}, rules)["properties"]
    assert props == {"Shop": "eu-store", "Lang": "de"}


def test_no_store_no_locale_means_no_context_and_fallbacks_apply() -> None:
    props = segment_payload(
        customer(stores=[], locale=None), {"properties": {"x": {"fr": "Bonjour", "en": "Hi"}}}, RULES
    )["properties"]
    assert props == {"x": "Hi"}  # fallback locale "en"
    assert localize({"fr": "Bonjour"}, ["de"]) == "Bonjour"  # none matches: the first available
    assert localize({"line1": "a", "city": "b"}, ["en"]) == {"line1": "a", "city": "b"}  # not localized text


@given(
    locale=st.sampled_from([None, "en", "en-GB", "de-DE", "fr", "sv-SE"]),
    stores=st.lists(st.sampled_from(["eu-store", "uk-store", "us-store"]), unique=True, max_size=3),
    values=st.dictionaries(st.sampled_from(["en", "de", "fr", "en-US"]), st.text(max_size=5), max_size=4),
)
def test_segmentation_never_fails_and_keeps_the_contract_payload(
    locale: str | None, stores: list[str], values: dict[str, str]
) -> None:
    c = customer(locale=locale, stores=[{"typeId": "store", "key": k} for k in stores])
    c["custom"]["fields"]["label"] = values
    out = segment_payload(c, {"email": "a@b.c", "properties": {"label": values}}, RULES)
    assert out["email"] == "a@b.c"
    props = out.get("properties", {})
    assert props.get("store") == (stores[0] if stores else None)
    if values:
        assert props["label"] in values.values()


def test_withhold_removes_owned_paths_at_any_depth() -> None:
    from crmsync.mapping.segments import withhold

    payload = {"first_name": "A", "location": {"city": "B", "zip": "1"}, "properties": {"tier": "gold"}}
    out = withhold(payload, ["location.city", "properties.tier", "nope.deeper", "title"])
    assert out == {"first_name": "A", "location": {"zip": "1"}}
    assert payload["properties"] == {"tier": "gold"}  # the input is not modified
