"""Read-only views of emulator state for tests: catalog mappings and event lookups.

Values are plain-dict snapshots taken under the store lock, so a test thread can read them while the
server thread writes (the SDK fidelity tests serve the emulator from a thread).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from crmsync.emulators.klaviyo.catalog_store import CatalogStore
from crmsync.emulators.klaviyo.store import Event, Store


class CatalogItemsView(Mapping[str, dict[str, Any]]):
    """``compound id -> item snapshot`` (attributes, ``created``/``updated``, sorted ``category_ids``)."""

    def __init__(self, catalog: CatalogStore) -> None:
        self._catalog = catalog

    def __getitem__(self, item_id: str) -> dict[str, Any]:
        with self._catalog.lock:
            return self._catalog.items[item_id].snapshot()

    def __iter__(self) -> Iterator[str]:
        with self._catalog.lock:
            return iter(list(self._catalog.items))

    def __len__(self) -> int:
        return len(self._catalog.items)


class CatalogCategoriesView(Mapping[str, dict[str, Any]]):
    """``compound id -> category snapshot`` (``external_id``, ``name``, sorted ``item_ids`` ...)."""

    def __init__(self, catalog: CatalogStore) -> None:
        self._catalog = catalog

    def __getitem__(self, category_id: str) -> dict[str, Any]:
        with self._catalog.lock:
            return self._catalog.categories[category_id].snapshot()

    def __iter__(self) -> Iterator[str]:
        with self._catalog.lock:
            return iter(list(self._catalog.categories))

    def __len__(self) -> int:
        return len(self._catalog.categories)


def event_snapshot(store: Store, event: Event) -> dict[str, Any]:
    metric = store.metrics.get(event.metric_id)
    return {
        "id": event.id,
        "uuid": event.uuid,
        "metric_id": event.metric_id,
        "metric_name": metric.name if metric else None,
        "profile_id": event.profile_id,
        "time": event.time,
        "properties": dict(event.properties),
        "value": event.value,
        "value_currency": event.value_currency,
        "unique_id": event.unique_id,
    }


def find_events(
    store: Store,
    *,
    metric: str | None = None,
    profile_id: str | None = None,
    profile_email: str | None = None,
    profile_external_id: str | None = None,
    unique_id: str | None = None,
) -> list[dict[str, Any]]:
    """Stored events matching every given criterion (``metric`` is the metric name), oldest first.

    ``profile_email`` / ``profile_external_id`` name the profile by identifier (emails match
    case-insensitively); an identifier nobody owns matches no event.
    """
    with store.lock:
        owners: set[str | None] = set()
        wanted_profiles: set[str | None] | None = None
        for name, value in (("email", profile_email), ("external_id", profile_external_id)):
            if value is None:
                continue
            owners = {store.owner(name, value)}
            wanted_profiles = owners if wanted_profiles is None else wanted_profiles & owners
        if profile_id is not None:
            wanted_profiles = {profile_id} if wanted_profiles is None else wanted_profiles & {profile_id}
        metric_id = store.metrics_by_name.get(metric) if metric is not None else None
        found = [
            event
            for event in store.events
            if (metric is None or event.metric_id == metric_id)
            and (wanted_profiles is None or event.profile_id in wanted_profiles)
            and (unique_id is None or event.unique_id == unique_id)
        ]
        return [event_snapshot(store, event) for event in sorted(found, key=lambda e: e.time)]
