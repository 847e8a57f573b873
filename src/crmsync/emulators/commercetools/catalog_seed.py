"""A deterministic demo catalog: a 3-level category tree and published products.

``seed_catalog(categories=40, products=200, seed=7)`` creates, through the same repositories as
``POST /categories`` and ``POST /products`` (so with ``CategoryCreated`` / ``ProductCreated``
Messages): root departments, their sections and sub-sections (English and German names and slugs,
``orderHint`` by position), and products with 1–3 variants, SKUs ``SKU-<n>-<v>``, prices in EUR,
GBP and USD (plus a country-scoped DE price on some), images with dimensions, colour/size attributes,
assigned to a leaf category and its section. About 5 % stay unpublished, another 5 % are published
with staged changes. The same seed gives the same catalog (ids apart).
"""

from __future__ import annotations

import random
from typing import Any

from .categories import CategoryRepository
from .products import ProductRepository

SEED_ACTOR = {"clientId": "emulator-seed", "isPlatformClient": False}
DEPARTMENTS = (
    ("shoes", "Shoes", "Schuhe", ("Sneakers", "Boots", "Sandals", "Loafers")),
    ("outdoor", "Outdoor", "Outdoor", ("Jackets", "Tents", "Backpacks", "Hiking")),
    ("electronics", "Electronics", "Elektronik", ("Audio", "Phones", "Cameras", "Wearables")),
    ("home", "Home", "Wohnen", ("Kitchen", "Lighting", "Bedding", "Decor")),
    ("beauty", "Beauty", "Beauty", ("Skincare", "Fragrance", "Haircare", "Makeup")),
    ("kids", "Kids", "Kinder", ("Toys", "Clothing", "School", "Baby")),
    ("sports", "Sports", "Sport", ("Running", "Cycling", "Fitness", "Swimming")),
    ("books", "Books", "Bücher", ("Fiction", "Cooking", "Travel", "Science")),
)
SUBSECTIONS = (("new", "New In", "Neuheiten"), ("sale", "Sale", "Sale"), ("premium", "Premium", "Premium"))
ADJECTIVES = ("Classic", "Urban", "Alpine", "Coastal", "Nordic", "Vintage", "Pro", "Essential", "Light")
COLOURS = ("black", "white", "navy", "olive", "red", "sand", "grey")
SIZES = ("XS", "S", "M", "L", "XL")
# (EUR cents, GBP factor, USD factor): GBP and USD prices follow the EUR price like a real price list.
FX = {"GBP": 0.86, "USD": 1.09}


def category_drafts(count: int) -> list[dict[str, Any]]:
    """Breadth-first drafts (parents before children, parent named by key) for ``count`` categories."""
    roots: list[dict[str, Any]] = []
    level2: list[dict[str, Any]] = []
    level3: list[dict[str, Any]] = []
    for position, (slug, en, de, sections) in enumerate(DEPARTMENTS):
        roots.append(
            {
                "key": slug,
                "name": {"en": en, "de": de},
                "slug": {"en": slug, "de": f"{slug}-de"},
                "orderHint": f"0.{position + 1}",
            }
        )
        for s_position, section in enumerate(sections):
            s_slug = f"{slug}-{section.lower()}"
            level2.append(
                {
                    "key": s_slug,
                    "name": {"en": section, "de": section},
                    "slug": {"en": s_slug, "de": f"{s_slug}-de"},
                    "parent": {"typeId": "category", "key": slug},
                    "orderHint": f"0.{s_position + 1}",
                }
            )
            for t_position, (sub, sub_en, sub_de) in enumerate(SUBSECTIONS):
                t_slug = f"{s_slug}-{sub}"
                level3.append(
                    {
                        "key": t_slug,
                        "name": {"en": f"{section} {sub_en}", "de": f"{section} {sub_de}"},
                        "slug": {"en": t_slug, "de": f"{t_slug}-de"},
                        "parent": {"typeId": "category", "key": s_slug},
                        "orderHint": f"0.{t_position + 1}",
                    }
                )
    count = max(count, 3)
    n_roots = max(1, min(len(roots), count // 5))
    chosen_roots = roots[:n_roots]
    keys = {r["key"] for r in chosen_roots}
    chosen2 = [c for c in level2 if c["parent"]["key"] in keys][: max(1, (count - n_roots) // 3)]
    keys2 = {c["key"] for c in chosen2}
    chosen3 = [c for c in level3 if c["parent"]["key"] in keys2][: count - n_roots - len(chosen2)]
    return chosen_roots + chosen2 + chosen3


def product_draft(index: int, leaf: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    department = (leaf.get("key") or "misc").split("-")[0]
    section = leaf["parent"]["id"]
    noun = leaf["name"]["en"].split()[0].rstrip("s") or "Item"
    name = f"{rng.choice(ADJECTIVES)} {noun} {index + 1}"
    key = f"product-{index:05d}"
    base = rng.randrange(990, 24990, 100)
    variants = []
    for v in range(rng.choice((1, 1, 2, 3))):
        prices: list[dict[str, Any]] = [{"value": {"currencyCode": "EUR", "centAmount": base + 500 * v}}]
        prices += [
            {"value": {"currencyCode": cur, "centAmount": int(round((base + 500 * v) * fx, -1)) - 1}}
            for cur, fx in FX.items()
        ]
        if rng.random() < 0.2:
            prices.append(
                {"value": {"currencyCode": "EUR", "centAmount": base + 500 * v - 200}, "country": "DE"}
            )
        variants.append(
            {
                "sku": f"SKU-{index:05d}-{v + 1}",
                "key": f"{key}-v{v + 1}",
                "prices": prices,
                "images": [
                    {
                        "url": f"https://images.example.com/{department}/{key}-{v + 1}-{n}.jpg",
                        "dimensions": {"w": 1200, "h": 1200},
                        "label": f"{name} {n}",
                    }
                    for n in range(1, rng.choice((2, 3)))
                ],
                "attributes": [
                    {"name": "color", "value": rng.choice(COLOURS)},
                    {"name": "size", "value": SIZES[v % 5]},
                ],
            }
        )
    return {
        "key": key,
        "productType": {"typeId": "product-type", "key": department},
        "name": {"en": name, "de": name},
        "slug": {"en": f"{key}-{name.lower().replace(' ', '-')}", "de": f"{key}-de"},
        "description": {"en": f"{name}: a {noun.lower()} from our {department} range."},
        "categories": [{"typeId": "category", "id": leaf["id"]}, {"typeId": "category", "id": section}],
        "masterVariant": variants[0],
        "variants": variants[1:],
        "publish": rng.random() >= 0.05,
    }


def seed_catalog(
    categories: CategoryRepository, products: ProductRepository, n_categories: int, n_products: int, seed: int
) -> dict[str, int]:
    rng = random.Random(seed)
    created: list[dict[str, Any]] = []
    for draft in category_drafts(n_categories):
        if categories.get_by_key(draft["key"]) is None:
            created.append(categories.create(draft, SEED_ACTOR))
    leaves = [c for c in categories.by_id.values() if len(c["ancestors"]) == 2] or [
        c for c in categories.by_id.values() if c.get("parent")
    ]
    leaves.sort(key=lambda c: c.get("key") or c["id"])
    made = 0
    offset = len(products.by_id)
    for index in range(offset, offset + n_products):
        if not leaves:
            break
        draft = product_draft(index, rng.choice(leaves), rng)
        product = products.create(draft, SEED_ACTOR)
        made += 1
        if product["masterData"]["published"] and rng.random() < 0.05:
            products.update(
                product["id"],
                False,
                product["version"],
                [{"action": "changeName", "name": {"en": draft["name"]["en"] + " (new)"}}],
                SEED_ACTOR,
            )
    return {"categories": len(created), "products": made}
