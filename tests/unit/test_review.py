"""Fuzzy duplicate suggestions: similar names in the same postal code are suggested, never merged;
the same e-mail (already linked deterministically) and different places are not suggested."""

from __future__ import annotations

from pathlib import Path

from crmsync.mapping import projection_hash
from crmsync.review import suggest_duplicates
from crmsync.store import DeliveredWrite, StateStore

TARGET = "marketing:customer"


def test_similar_names_in_one_place_are_suggested(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 's.db'}")
    people = {
        "c1": {
            "first_name": "Jonathan",
            "last_name": "Smith",
            "email": "j@a.com",
            "location": {"zip": "10115"},
        },
        "c2": {
            "first_name": "Jonathon",
            "last_name": "Smith",
            "email": "js@b.com",
            "location": {"zip": "10115"},
        },
        "c3": {
            "first_name": "Jonathan",
            "last_name": "Smith",
            "email": "x@c.com",
            "location": {"zip": "80331"},
        },
        "c4": {
            "first_name": "Maria",
            "last_name": "Garcia",
            "email": "m@d.com",
            "location": {"zip": "10115"},
        },
        "c5": {
            "first_name": "Jonathan",
            "last_name": "Smith",
            "email": "j@a.com",
            "location": {"zip": "10115"},
        },
    }
    ids = store.ensure_records("customer", "commercetools", "id", list(people))
    store.save_delivered(
        TARGET,
        [DeliveredWrite(ids[k], {**v, "external_id": k}, projection_hash(v)) for k, v in people.items()],
    )
    found = suggest_duplicates(store, TARGET, threshold=85)
    pairs = {frozenset((s.a, s.b)) for s in found}
    assert frozenset(("c1", "c2")) in pairs and frozenset(("c2", "c5")) in pairs
    assert frozenset(("c1", "c5")) not in pairs  # same e-mail: deterministic, not a suggestion
    assert not any("c3" in p or "c4" in p for p in pairs)  # another place / another name
    assert all(85 <= s.score <= 100 for s in found)
    assert len(store.links(ids["c1"])) == 1 and len(store.links(ids["c2"])) == 1  # nothing merged
    store.close()
