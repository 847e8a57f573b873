"""commercetools categories and product projections → Klaviyo catalog payloads (crmsync.mapping.catalog)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.errors import RecordValidationError
from crmsync.mapping.catalog import CatalogRules, category_payload, product_payload

ITEM_KEYS = {
    "external_id",
    "title",
    "description",
    "url",
    "price",
    "image_full_url",
    "image_thumbnail_url",
    "images",
    "published",
    "custom_metadata",
    "categories",
}
REQUIRED_ITEM_KEYS = {"external_id", "title", "description", "url", "published", "categories"}


def ref(category_id: str, name: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"typeId": "category", "id": category_id}
    if name is not None:
        out["obj"] = {"id": category_id, "version": 1, "name": name, "slug": {"en": category_id}}
    return out


def category(name: Any, *ancestors: dict[str, Any], ident: str = "cat-3") -> dict[str, Any]:
    return {"id": ident, "version": 2, "name": name, "slug": {"en": ident}, "ancestors": list(ancestors)}


def price(currency: str, cents: int, **extra: Any) -> dict[str, Any]:
    value = {"type": "centPrecision", "currencyCode": currency, "centAmount": cents, "fractionDigits": 2}
    return {"id": f"p-{currency}-{cents}", "value": value, **extra}


def projection(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "prod-1",
        "version": 7,
        "key": "shirt",
        "productType": {"typeId": "product-type", "id": "pt"},
        "name": {"en": "Blue Shirt", "de": "Blaues Hemd"},
        "description": {"en": "Cotton.", "de": "Baumwolle."},
        "slug": {"en": "blue-shirt", "de": "blaues-hemd"},
        "categories": [ref("cat-1"), ref("cat-2"), ref("cat-1")],
        "masterVariant": {
            "id": 1,
            "sku": "SKU 1/A",
            "prices": [
                price("EUR", 1999),
                price("EUR", 1799, country="DE"),
                price("EUR", 999, customerGroup={"typeId": "customer-group", "id": "vip"}),
                price("EUR", 899, channel={"typeId": "channel", "id": "outlet"}),
                price("EUR", 499, validFrom="2024-01-01T00:00:00.000Z"),
                price("USD", 2199),
            ],
            "images": [
                {"url": "https://img.example.com/1.jpg", "dimensions": {"w": 10, "h": 10}},
                {"url": "https://img.example.com/2.jpg", "dimensions": {"w": 10, "h": 10}},
            ],
            "attributes": [],
        },
        "variants": [
            {
                "id": 2,
                "sku": "SKU-2",
                "prices": [],
                "images": [
                    {"url": "https://img.example.com/2.jpg", "dimensions": {"w": 1, "h": 1}},
                    {"url": "https://img.example.com/3.jpg", "dimensions": {"w": 1, "h": 1}},
                ],
            }
        ],
        "searchKeywords": {},
        "hasStagedChanges": False,
        "published": True,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "lastModifiedAt": "2024-01-02T00:00:00.000Z",
    }
    base.update(overrides)
    return base


def failure(call: Any, *args: Any) -> RecordValidationError:
    with pytest.raises(RecordValidationError) as info:
        call(*args)
    return info.value


# -- categories ------------------------------------------------------------------------------------
def test_category_name_is_the_path_from_the_root() -> None:
    cat = category(
        {"en": "Jeans", "de": "Jeans"},
        ref("cat-1", {"en": "Women", "de": "Damen"}),
        ref("cat-2", {"en": "Pants", "de": "Hosen"}),
    )
    assert category_payload(cat) == {"external_id": "cat-3", "name": "Women > Pants > Jeans"}
    german = category_payload(cat, CatalogRules(locale="de"))
    assert german == {"external_id": "cat-3", "name": "Damen > Hosen > Jeans"}


def test_each_name_falls_back_on_its_own() -> None:
    cat = category(
        {"fr": "Jeans"}, ref("cat-1", {"de": "Damen", "fr": "Femmes"}), ref("cat-2", {"en-GB": "Trousers"})
    )
    rules = CatalogRules(locale="en", fallback_locales=["de"])
    # cat-1: the fallback "de"; cat-2: the same language as "en"; own: the only locale there is
    assert category_payload(cat, rules)["name"] == "Damen > Trousers > Jeans"


def test_root_category_and_the_vendor_example(specs_dir: Path) -> None:
    example = json.loads((specs_dir / "commercetools" / "examples" / "category.example.json").read_text())
    assert category_payload(example) == {
        "external_id": "c2f93298-c967-44af-8c2a-d2220bf39eb2",
        "name": "Hats",
    }


def test_an_ancestor_that_is_not_expanded_is_named() -> None:
    error = failure(category_payload, category({"en": "Jeans"}, ref("cat-1", {"en": "Women"}), ref("cat-2")))
    assert error.field == "ancestors"
    assert "'cat-2'" in error.message and "expand=ancestors[*]" in error.message


@pytest.mark.parametrize(
    ("cat", "field"),
    [
        (category({}), "name"),
        (category({"en": "  "}), "name"),
        (category(None), "name"),
        (category({"en": "Jeans"}, ref("cat-1", {})), "ancestors"),
        ({**category({"en": "Jeans"}), "ancestors": "cat-1"}, "ancestors"),
        ({**category({"en": "Jeans"}), "id": ""}, "id"),
        ({"name": {"en": "Jeans"}}, "id"),
    ],
)
def test_unusable_categories(cat: dict[str, Any], field: str) -> None:
    assert failure(category_payload, cat).field == field


# -- products --------------------------------------------------------------------------------------
def test_full_product_with_the_default_rules() -> None:
    payload = product_payload(projection())
    assert payload == {
        "external_id": "prod-1",
        "title": "Blue Shirt",
        "description": "Cotton.",
        "url": "https://shop.example.com/en/p/blue-shirt",
        "published": True,
        "categories": ["cat-1", "cat-2"],
        "price": 19.99,  # EUR, no country, no customer group / channel / validity period
        "image_full_url": "https://img.example.com/1.jpg",
        "image_thumbnail_url": "https://img.example.com/1.jpg",
        "images": [
            "https://img.example.com/1.jpg",
            "https://img.example.com/2.jpg",
            "https://img.example.com/3.jpg",
        ],
        "custom_metadata": {
            "sku": "SKU 1/A",
            "key": "shirt",
            "title_de": "Blaues Hemd",
            "description_de": "Baumwolle.",
            "url_de": "https://shop.example.com/de/p/blaues-hemd",
        },
    }


def test_price_selection() -> None:
    assert product_payload(projection(), CatalogRules(country="DE"))["price"] == 17.99
    assert product_payload(projection(), CatalogRules(country="FR"))["price"] == 19.99
    assert product_payload(projection(), CatalogRules(currency="USD", country="DE"))["price"] == 21.99
    assert "price" not in product_payload(projection(), CatalogRules(currency="GBP"))
    only_country = projection(masterVariant={"id": 1, "prices": [price("EUR", 1799, country="DE")]})
    assert "price" not in product_payload(only_country)
    precise = {
        "type": "highPrecision",
        "currencyCode": "EUR",
        "centAmount": 1235,
        "preciseAmount": 123456,
        "fractionDigits": 4,
    }
    high = projection(masterVariant={"id": 1, "prices": [{"id": "x", "value": precise}]})
    assert product_payload(high)["price"] == 12.3456
    yen_value = {"type": "centPrecision", "currencyCode": "JPY", "centAmount": 1500, "fractionDigits": 0}
    yen = projection(masterVariant={"id": 1, "prices": [{"id": "y", "value": yen_value}]})
    assert product_payload(yen, CatalogRules(currency="JPY"))["price"] == 1500.0


def test_locales_fallbacks_and_other_locales() -> None:
    german = product_payload(projection(), CatalogRules(locale="de-DE"))  # same language: "de"
    assert (german["title"], german["url"]) == ("Blaues Hemd", "https://shop.example.com/de/p/blaues-hemd")
    assert german["custom_metadata"]["title_en"] == "Blue Shirt"
    assert german["custom_metadata"]["url_en"] == "https://shop.example.com/en/p/blue-shirt"
    mixed = product_payload(
        projection(description={"de": "Baumwolle."}), CatalogRules(locale="fr", fallback_locales=["en"])
    )
    # each text takes the first locale it has: description only exists in German
    assert (mixed["title"], mixed["description"]) == ("Blue Shirt", "Baumwolle.")
    assert (
        "description_de" not in mixed["custom_metadata"]
        and mixed["custom_metadata"]["title_de"] == "Blaues Hemd"
    )
    assert (
        product_payload(projection(name={"it": "Camicia", "es": "Camisa"}))["title"] == "Camisa"
    )  # alphabetical
    plain = product_payload(projection(), CatalogRules(other_locales=False))
    assert plain["custom_metadata"] == {"sku": "SKU 1/A", "key": "shirt"}


def test_absent_description_is_an_empty_string() -> None:
    # Klaviyo requires a description on create and its spec sets no minimum length.
    payload = product_payload(projection(description=None))
    assert payload["description"] == "" and not any(
        k.startswith("description_") for k in payload["custom_metadata"]
    )


def test_url_template_placeholders_are_filled_and_encoded() -> None:
    rules = CatalogRules(url_template="https://shop.example.com/{locale}/{key}/{id}?sku={sku}")
    payload = product_payload(projection(), rules)
    assert payload["url"] == "https://shop.example.com/en/shirt/prod-1?sku=SKU%201%2FA"
    assert payload["custom_metadata"]["url_de"] == "https://shop.example.com/de/shirt/prod-1?sku=SKU%201%2FA"
    same = product_payload(projection(), CatalogRules(url_template="https://shop.example.com/p/{id}"))
    assert "url_de" not in same["custom_metadata"]  # the same URL in every locale


def test_vendor_product_projection_example(specs_dir: Path) -> None:
    path = specs_dir / "commercetools" / "examples" / "product-projection.example.json"
    payload = product_payload(json.loads(path.read_text()))
    assert payload == {
        "external_id": "080feded-4f74-4d31-9309-f7ef6b7f1279",
        "title": "Some Products",
        "description": "",
        "url": "https://shop.example.com/en/p/product_slug_jxeutnxwkswk",
        "published": True,
        "categories": [],
    }


def test_unpublished_projection_maps_to_an_unpublished_item() -> None:
    assert product_payload(projection(published=False))["published"] is False
    assert product_payload({k: v for k, v in projection().items() if k != "published"})["published"] is True


@pytest.mark.parametrize(
    ("overrides", "rules", "field"),
    [
        ({"name": {}}, CatalogRules(), "name"),
        ({"name": {"en": ""}}, CatalogRules(), "name"),
        ({"slug": None}, CatalogRules(), "slug"),
        ({"key": None}, CatalogRules(url_template="https://x/{key}"), "key"),
        ({"masterVariant": {"id": 1}}, CatalogRules(url_template="https://x/{sku}"), "masterVariant.sku"),
        ({"masterVariant": "v1"}, CatalogRules(), "masterVariant"),
        ({"published": "yes"}, CatalogRules(), "published"),
        ({"categories": [{"typeId": "category"}]}, CatalogRules(), "categories"),
        ({"categories": {"id": "c"}}, CatalogRules(), "categories"),
        ({"id": None}, CatalogRules(), "id"),
    ],
)
def test_unusable_products(overrides: dict[str, Any], rules: CatalogRules, field: str) -> None:
    assert failure(product_payload, projection(**overrides), rules).field == field


def test_no_slug_is_fine_when_the_template_does_not_use_it() -> None:
    payload = product_payload(projection(slug=None), CatalogRules(url_template="https://x/{locale}/{id}"))
    assert (
        payload["url"] == "https://x/en/prod-1"
        and payload["custom_metadata"]["url_de"] == "https://x/de/prod-1"
    )


def test_custom_metadata_stays_under_klaviyos_100_kb() -> None:
    long = "x" * 60_000
    trimmed = product_payload(projection(description={"en": "short", "de": long, "fr": long}))
    assert not any(k.startswith("description_") for k in trimmed["custom_metadata"])
    assert trimmed["description"] == "short" and trimmed["custom_metadata"]["title_de"] == "Blaues Hemd"
    huge = {f"l{i:02d}": "t" * 5_000 for i in range(30)}
    assert failure(product_payload, projection(name={"en": "Shirt", **huge})).field == "custom_metadata"


# -- rules -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"url_template": "https://x/{slugg}"}, "unknown placeholder {slugg}"),
        ({"url_template": "https://x/{}"}, "unknown placeholder {}"),
        ({"url_template": "https://x/{slug:>10}"}, "unknown placeholder {slug:>10}"),
        ({"url_template": "https://x/{slug!r}"}, "unknown placeholder {slug!r}"),
        ({"url_template": "https://x/{slug"}, "not a valid template"),
        ({"url_template": "/p/{slug}"}, "http(s) URL"),
        ({"currency": "eur"}, "ISO 4217"),
        ({"country": "Germany"}, "ISO 3166-1"),
        ({"locale": "english please"}, "not a locale"),
        ({"fallback_locales": ["de", ""]}, "not a locale"),
        ({"thumbnail_size": "small"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_rules_are_refused_at_load(settings_: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        CatalogRules.model_validate(settings_)


def test_literal_braces_are_allowed() -> None:
    rules = CatalogRules(url_template="https://x/{{static}}/{slug}")
    assert product_payload(projection(), rules)["url"] == "https://x/{static}/blue-shirt"


# -- whatever arrives: a valid payload or a RecordValidationError ----------------------------------
def mostly(good: st.SearchStrategy[Any], junk: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually ``good``, sometimes ``junk``: most records get far enough to exercise the mapping."""
    return st.integers(0, 4).flatmap(lambda n: junk if n == 4 else good)


LOCALES = ["en", "de", "de-DE", "en-US", "fr", "EN"]
words = st.text(alphabet="abc XYZ<>/", min_size=1, max_size=12)
junk = st.none() | st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2)
localized = mostly(
    st.dictionaries(st.sampled_from(LOCALES), words, min_size=1, max_size=3),
    junk | st.dictionaries(st.sampled_from(["", *LOCALES]) | st.text(max_size=4), junk | st.just("  ")),
)
ids = mostly(st.text(alphabet="abc123-", min_size=1, max_size=8), junk)
money = st.fixed_dictionaries(
    {
        "currencyCode": mostly(st.sampled_from(["EUR", "USD"]), junk),
        "centAmount": mostly(st.integers(0, 10**6), st.integers() | st.floats() | st.text(max_size=3)),
    },
    optional={
        "type": st.sampled_from(["centPrecision", "highPrecision", "x"]),
        "preciseAmount": st.integers() | st.none(),
        "fractionDigits": mostly(st.integers(0, 4), st.integers(-3, 40) | st.booleans() | junk),
    },
)
prices = st.lists(
    mostly(
        st.fixed_dictionaries(
            {"value": mostly(money, junk)},
            optional={"country": st.sampled_from(["DE", "FR", None, 3]), "channel": st.just({"id": "c"})},
        ),
        junk,
    ),
    max_size=3,
)
images = st.lists(mostly(st.fixed_dictionaries({"url": mostly(words, junk)}), junk), max_size=3)
variants = st.fixed_dictionaries(
    {},
    optional={"sku": mostly(words, junk), "prices": mostly(prices, junk), "images": mostly(images, junk)},
)
references = st.lists(
    mostly(
        st.fixed_dictionaries(
            {"id": ids}, optional={"obj": mostly(st.fixed_dictionaries({"name": localized}), junk)}
        ),
        junk,
    ),
    max_size=3,
)
products = st.fixed_dictionaries(
    {"id": ids, "name": localized, "slug": localized},
    optional={
        "key": mostly(words, junk),
        "description": localized,
        "masterVariant": mostly(variants, junk),
        "variants": mostly(st.lists(mostly(variants, junk), max_size=2), junk),
        "categories": mostly(references, junk),
        "published": mostly(st.booleans(), junk),
    },
)
categories = st.fixed_dictionaries(
    {"id": ids, "name": localized}, optional={"ancestors": mostly(references, junk)}
)
rule_sets = st.sampled_from(
    [
        CatalogRules(),
        CatalogRules(locale="de", fallback_locales=["en-US", "fr"], country="DE", currency="USD"),
        CatalogRules(url_template="https://x/{locale}/{key}/{sku}/{id}/{slug}", other_locales=False),
        CatalogRules(url_template="https://x/p/{id}"),
    ]
)


def _check_item(payload: dict[str, Any]) -> None:
    assert REQUIRED_ITEM_KEYS <= set(payload) <= ITEM_KEYS
    for name in ("external_id", "title", "url"):
        assert isinstance(payload[name], str) and payload[name]
    assert isinstance(payload["description"], str) and isinstance(payload["published"], bool)
    assert all(isinstance(c, str) and c for c in payload["categories"])
    if "price" in payload:
        assert isinstance(payload["price"], float) and math.isfinite(payload["price"])
    if "images" in payload:
        assert payload["images"] and payload["image_full_url"] == payload["images"][0]
    metadata = payload.get("custom_metadata", {})
    assert all(isinstance(v, str) for v in metadata.values())  # flat
    json.dumps(payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(products, rule_sets)
def test_any_product_maps_or_is_refused_with_a_field(record: dict[str, Any], rules: CatalogRules) -> None:
    try:
        payload = product_payload(record, rules)
    except RecordValidationError as exc:
        assert exc.field
        return
    _check_item(payload)


@settings(max_examples=300, deadline=None)
@given(categories, rule_sets)
def test_any_category_maps_or_is_refused_with_a_field(record: dict[str, Any], rules: CatalogRules) -> None:
    try:
        payload = category_payload(record, rules)
    except RecordValidationError as exc:
        assert exc.field in ("id", "name", "ancestors")
        return
    assert set(payload) == {"external_id", "name"}
    assert isinstance(payload["name"], str) and payload["name"].strip()
