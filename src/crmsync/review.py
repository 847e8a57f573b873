"""``crmsync review duplicates``: people who may be the same, for a human to look at.

Deterministic matching (stable id, then e-mail, then phone) links records automatically; similar
names never do. This report compares what was delivered for each customer — name, city, postal
code — with RapidFuzz's token-sort ratio inside blocks of the same postal code (or city), and lists
pairs at or above the threshold that carry different identifiers. It never merges anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

from rapidfuzz import fuzz

from crmsync.store import StateStore

MAX_BLOCK = 200  # a block larger than this (a huge city) is compared by name initial as well


@dataclass(frozen=True)
class Suggestion:
    a: str  # external ids (the source ids) of the two records
    b: str
    score: float
    reason: str


def _key(payload: dict[str, Any]) -> str:
    location = payload.get("location") or {}
    return str(location.get("zip") or location.get("city") or "").strip().lower()


def _name(payload: dict[str, Any]) -> str:
    return " ".join(str(payload.get(k) or "") for k in ("first_name", "last_name")).strip().lower()


def suggest_duplicates(store: StateStore, target: str, *, threshold: float = 90.0) -> list[Suggestion]:
    blocks: dict[str, list[dict[str, Any]]] = {}
    after: str | None = None
    while page := store.delivered_page(target, after=after):
        after = page[-1].internal_id
        for row in page:
            payload = row.payload or {}
            name = _name(payload)
            if name and payload.get("external_id"):
                blocks.setdefault(_key(payload), []).append(payload)
    out: list[Suggestion] = []
    for key, people in blocks.items():
        groups = [people] if len(people) <= MAX_BLOCK else _by_initial(people)
        for group in groups:
            for p, q in combinations(group, 2):
                if p.get("email") and p.get("email") == q.get("email"):
                    continue  # deterministic rules already link these
                score = fuzz.token_sort_ratio(_name(p), _name(q))
                if score >= threshold:
                    where = f"same postal code/city {key!r}" if key else "no address"
                    out.append(
                        Suggestion(str(p["external_id"]), str(q["external_id"]), round(score, 1), where)
                    )
    return sorted(out, key=lambda s: (-s.score, s.a, s.b))


def _by_initial(people: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for person in people:
        groups.setdefault(_name(person)[:1], []).append(person)
    return list(groups.values())
