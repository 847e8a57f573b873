"""commercetools categories and product projections → Klaviyo catalog payloads (pure functions).

Payload contract with the Klaviyo connector (:mod:`crmsync.connectors.klaviyo.catalog`)::

    catalog_category: {"external_id": <category id>, "name": "Women > Pants > Jeans"}
    catalog_item:     {"external_id": <product id>, "title": str, "description": str, "url": str,
                       "price"?: float, "image_full_url"?: str, "image_thumbnail_url"?: str,
                       "images"?: [str], "published": bool, "custom_metadata"?: {...},
                       "categories": [category ids]}

*Categories* (:func:`category_payload`) need their ``ancestors`` expanded (``expand=ancestors[*]``,
as the commercetools connector reads them): the name is every ancestor's name, root first (the
order of ``Category.ancestors``), then the category's own, joined by ``" > "``.

*Products* (:func:`product_payload`) are ``ProductProjection`` s (the published one, or the staged one
of an unpublished product, which the connector marks ``published: false``):

* ``title`` / ``description`` / the ``{slug}`` of ``url`` are LocalizedStrings resolved by
  :meth:`CatalogRules.pick`. A projection may have no description, but Klaviyo requires one on create
  (``CatalogItemCreateQueryResourceObject.required``); its spec sets no minimum length, so an absent
  description is sent as ``""``.
* ``price``: the master variant's embedded price in ``currency`` — for ``country`` when one is set
  and the variant has one, else the price without a country; prices for a customer group or a
  channel, and prices with a validity period (``validFrom``/``validUntil``: a pure function cannot
  tell whether they apply now) are never taken. No such price → no ``price``.
* ``images``: the image URLs of the master variant, then of the other variants (each once);
  ``image_full_url`` and ``image_thumbnail_url`` are the first one, unchanged (Klaviyo takes the
  same URL for both; commercetools' CDN size suffixes only exist for images uploaded to it).
* ``categories``: the ids of the projection's category references; ``published`` its flag (absent:
  true, as a published projection does not need to say).
* ``custom_metadata`` (a flat object, at most 100 KB for Klaviyo): ``sku`` of the master variant,
  ``key`` of the product, and with ``other_locales`` the title, description and URL in every
  other locale the product has, as ``title_<locale>``, ``description_<locale>``, ``url_<locale>``.
  Too large: the other locales' descriptions are dropped first, then the record is refused.

Unusable records raise :class:`crmsync.errors.RecordValidationError` naming the field (a category
or product without a name, a URL template placeholder the product has no value for …); nothing
else escapes, whatever the input.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crmsync.errors import RecordValidationError

PLACEHOLDERS = ("slug", "key", "id", "sku", "locale")
CATEGORY_SEPARATOR = " > "
MAX_METADATA_BYTES = 100 * 1024  # Klaviyo: "Flat JSON blob ... May not exceed 100kb."
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def template_fields(template: str) -> set[str]:
    """The placeholders of a URL template; ValueError for any it does not allow (see :data:`PLACEHOLDERS`)."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"url_template is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    found: set[str] = set()
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"url_template has an unknown placeholder {shown}; allowed: {allowed}")
        found.add(name)
    return found


class CatalogRules(BaseModel):
    """How categories and products become Klaviyo catalog categories and items."""

    model_config = ConfigDict(extra="forbid")
    locale: str = Field("en", description="the locale of names, titles, descriptions and URLs")
    fallback_locales: list[str] = Field(
        default_factory=list, description="tried in order when a text lacks `locale`"
    )
    url_template: str = Field(
        "https://shop.example.com/{locale}/p/{slug}",
        description="the item URL; placeholders {slug} {key} {id} {sku} {locale}",
    )
    currency: str = Field("EUR", description="ISO 4217 code of the price to send")
    country: str | None = Field(None, description="ISO 3166-1 alpha-2: prefer this country's price")
    other_locales: bool = Field(True, description="other locales' title/description/url in custom_metadata")

    @field_validator("locale")
    @classmethod
    def _check_locale(cls, value: str) -> str:
        if not _LOCALE.match(value):
            raise ValueError(f"{value!r} is not a locale such as 'en' or 'de-DE'")
        return value

    @field_validator("fallback_locales")
    @classmethod
    def _check_fallbacks(cls, value: list[str]) -> list[str]:
        for locale in value:
            cls._check_locale(locale)
        return value

    @field_validator("url_template")
    @classmethod
    def _check_template(cls, value: str) -> str:
        if not re.match(r"^https?://\S+$", value):
            raise ValueError("url_template must be an http(s) URL without spaces")
        template_fields(value)
        return value

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        if not re.match(r"^[A-Z]{3}$", value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code such as 'EUR'")
        return value

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Z]{2}$", value):
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code such as 'DE'")
        return value

    def pick(self, value: Any) -> tuple[str, str] | None:
        """``(locale, text)`` of a LocalizedString: ``locale``, then each fallback, then a locale of
        the same language as one of those ("en" ↔ "en-US"), then the first locale alphabetically.
        Empty or non-text values do not count; None when nothing is left."""
        texts = localized_texts(value)
        if not texts:
            return None
        wanted = [self.locale, *self.fallback_locales]
        for locale in wanted:
            if locale in texts:
                return locale, texts[locale]
        for locale in wanted:
            language = _language(locale)
            for key in sorted(texts):
                if _language(key) == language:
                    return key, texts[key]
        first = min(texts)
        return first, texts[first]


def _language(locale: str) -> str:
    return locale.split("-", 1)[0].lower()


def localized_texts(value: Any) -> dict[str, str]:
    """The usable entries of a LocalizedString (text values, stripped, not empty)."""
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, text in value.items():
        if isinstance(key, str) and key and isinstance(text, str) and text.strip():
            out[key] = text.strip()
    return out


def _record_id(record: Mapping[str, Any], what: str) -> str:
    ident = record.get("id") if isinstance(record, Mapping) else None
    if not isinstance(ident, str) or not ident.strip():
        raise RecordValidationError(f"the {what} has no id", field="id")
    return ident


# -- categories ------------------------------------------------------------------------------------
def category_payload(category: Mapping[str, Any], rules: CatalogRules | None = None) -> dict[str, Any]:
    """A Category (ancestors expanded) → ``{"external_id", "name"}``; see the module docstring."""
    rules = rules or CatalogRules()
    ident = _record_id(category, "category")
    ancestors = category.get("ancestors") or []
    if not isinstance(ancestors, list):
        raise RecordValidationError("the category's ancestors are not a list", field="ancestors")
    names: list[str] = []
    for position, reference in enumerate(ancestors):
        target = reference.get("obj") if isinstance(reference, Mapping) else None
        if not isinstance(target, Mapping):
            ref_id = reference.get("id") if isinstance(reference, Mapping) else None
            raise RecordValidationError(
                f"ancestor {position} ({ref_id!r}) of category {ident} is not expanded: "
                "read categories with expand=ancestors[*]",
                field="ancestors",
            )
        chosen = rules.pick(target.get("name"))
        if chosen is None:
            raise RecordValidationError(
                f"ancestor {position} of category {ident} has no name", field="ancestors"
            )
        names.append(chosen[1])
    own = rules.pick(category.get("name"))
    if own is None:
        raise RecordValidationError(f"category {ident} has no name", field="name")
    return {"external_id": ident, "name": CATEGORY_SEPARATOR.join([*names, own[1]])}


# -- products --------------------------------------------------------------------------------------
def product_payload(projection: Mapping[str, Any], rules: CatalogRules | None = None) -> dict[str, Any]:
    """A ProductProjection → a catalog item payload; see the module docstring."""
    rules = rules or CatalogRules()
    ident = _record_id(projection, "product")
    master = projection.get("masterVariant")
    if master is None:
        master = {}
    if not isinstance(master, Mapping):
        raise RecordValidationError(f"product {ident}: masterVariant is not an object", field="masterVariant")
    title = rules.pick(projection.get("name"))
    if title is None:
        raise RecordValidationError(f"product {ident} has no name", field="name")
    description = rules.pick(projection.get("description"))
    url_builder = _UrlBuilder(rules, projection, master, ident)
    slug = rules.pick(projection.get("slug"))
    url_locale = slug[0] if slug is not None else title[0]
    payload: dict[str, Any] = {
        "external_id": ident,
        "title": title[1],
        "description": description[1] if description is not None else "",
        "url": url_builder.build(url_locale, slug[1] if slug is not None else None),
        "published": _published(projection, ident),
        "categories": _category_ids(projection, ident),
    }
    price = _price(master, rules)
    if price is not None:
        payload["price"] = price
    images = _image_urls([master, *_variants(projection)])
    if images:
        payload.update(image_full_url=images[0], image_thumbnail_url=images[0], images=images)
    chosen = {"title": title[0], "description": description[0] if description else None, "url": url_locale}
    metadata = _metadata(projection, master, rules, url_builder, ident, chosen)
    if metadata:
        payload["custom_metadata"] = metadata
    return payload


class _UrlBuilder:
    """Fills ``url_template`` for one product in any locale."""

    def __init__(
        self, rules: CatalogRules, projection: Mapping[str, Any], master: Mapping[str, Any], ident: str
    ) -> None:
        self.template = rules.url_template
        try:
            self.fields = template_fields(self.template)
        except ValueError as exc:  # a CatalogRules built without validation
            raise RecordValidationError(str(exc), field="url_template") from None
        self.values: dict[str, str] = {"id": ident}
        for name, value, field in (
            ("key", projection.get("key"), "key"),
            ("sku", master.get("sku"), "masterVariant.sku"),
        ):
            if name not in self.fields:
                continue
            if not isinstance(value, str) or not value.strip():
                raise RecordValidationError(
                    f"product {ident} has no {field}, which url_template needs ({{{name}}})", field=field
                )
            self.values[name] = value

    @property
    def needs_slug(self) -> bool:
        return "slug" in self.fields

    def build(self, locale: str, slug: str | None) -> str:
        if slug is None and self.needs_slug:
            raise RecordValidationError(
                f"product {self.values['id']} has no slug, which url_template needs ({{slug}})", field="slug"
            )
        values = {**self.values, "locale": locale, "slug": slug or ""}
        wanted = {name: quote(values[name], safe="-_.~") for name in self.fields}
        return self.template.format(**wanted)


def _published(projection: Mapping[str, Any], ident: str) -> bool:
    value = projection.get("published")
    if value is None:
        return True
    if not isinstance(value, bool):
        raise RecordValidationError(f"product {ident}: published is not a boolean", field="published")
    return value


def _category_ids(projection: Mapping[str, Any], ident: str) -> list[str]:
    references = projection.get("categories") or []
    if not isinstance(references, list):
        raise RecordValidationError(f"product {ident}: categories is not a list", field="categories")
    ids: list[str] = []
    for reference in references:
        ref_id = reference.get("id") if isinstance(reference, Mapping) else None
        if not isinstance(ref_id, str) or not ref_id:
            raise RecordValidationError(
                f"product {ident}: a category reference has no id", field="categories"
            )
        if ref_id not in ids:
            ids.append(ref_id)
    return ids


def _variants(projection: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    variants = projection.get("variants")
    return [v for v in variants if isinstance(v, Mapping)] if isinstance(variants, list) else []


def _image_urls(variants: Iterable[Mapping[str, Any]]) -> list[str]:
    urls: list[str] = []
    for variant in variants:
        images = variant.get("images")
        for image in images if isinstance(images, list) else []:
            url = image.get("url") if isinstance(image, Mapping) else None
            if isinstance(url, str) and url.strip() and url not in urls:
                urls.append(url)
    return urls


def money_amount(value: Any) -> float | None:
    """A commercetools TypedMoney in major units (``preciseAmount`` when high precision); None if
    it is not a usable amount."""
    if not isinstance(value, Mapping):
        return None
    digits = value.get("fractionDigits", 2)
    amount = value.get("preciseAmount") if value.get("type") == "highPrecision" else value.get("centAmount")
    if amount is None:
        amount = value.get("centAmount")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 20:
        return None
    if isinstance(amount, bool) or not isinstance(amount, int) or abs(amount) > 10**30:
        return None
    result = float(Decimal(amount).scaleb(-digits))
    return result if math.isfinite(result) else None


def _price(master: Mapping[str, Any], rules: CatalogRules) -> float | None:
    prices = master.get("prices")
    if not isinstance(prices, list):
        return None
    by_country: dict[str | None, float] = {}
    for price in prices:
        if not isinstance(price, Mapping) or any(
            price.get(scope) is not None for scope in ("customerGroup", "channel", "validFrom", "validUntil")
        ):
            continue
        value = price.get("value")
        if not isinstance(value, Mapping) or value.get("currencyCode") != rules.currency:
            continue
        amount = money_amount(value)
        country = price.get("country")
        if amount is not None and (country is None or isinstance(country, str)):
            by_country.setdefault(country, amount)
    if rules.country is not None and rules.country in by_country:
        return by_country[rules.country]
    return by_country.get(None)


def _metadata(
    projection: Mapping[str, Any],
    master: Mapping[str, Any],
    rules: CatalogRules,
    urls: _UrlBuilder,
    ident: str,
    chosen: Mapping[str, str | None],
) -> dict[str, Any]:
    """``sku``, ``key`` and, with ``other_locales``, ``title_<l>`` / ``description_<l>`` / ``url_<l>``
    for every locale ``l`` other than the one each field of the payload was taken from (``chosen``)."""
    metadata: dict[str, Any] = {}
    for name, value in (("sku", master.get("sku")), ("key", projection.get("key"))):
        if isinstance(value, str) and value:
            metadata[name] = value
    if not rules.other_locales:
        return metadata
    names = localized_texts(projection.get("name"))
    descriptions = localized_texts(projection.get("description"))
    slugs = localized_texts(projection.get("slug"))
    localized_url = bool({"slug", "locale"} & urls.fields)  # else the URL is the same in every locale
    for locale in sorted({*names, *descriptions, *slugs}):
        if locale in names and locale != chosen["title"]:
            metadata[f"title_{locale}"] = names[locale]
        if locale in descriptions and locale != chosen["description"]:
            metadata[f"description_{locale}"] = descriptions[locale]
        if localized_url and locale != chosen["url"]:
            if urls.needs_slug:
                if locale in slugs:
                    metadata[f"url_{locale}"] = urls.build(locale, slugs[locale])
            elif locale in names:
                metadata[f"url_{locale}"] = urls.build(locale, None)
    return _fit(metadata, ident)


def _size(metadata: Mapping[str, Any]) -> int:
    return len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())


def _fit(metadata: dict[str, Any], ident: str) -> dict[str, Any]:
    if _size(metadata) <= MAX_METADATA_BYTES:
        return metadata
    trimmed = {k: v for k, v in metadata.items() if not k.startswith("description_")}
    if _size(trimmed) <= MAX_METADATA_BYTES:
        return trimmed
    raise RecordValidationError(
        f"product {ident}: custom_metadata exceeds Klaviyo's 100 KB even without the other locales' "
        "descriptions (set other_locales: false)",
        field="custom_metadata",
    )
