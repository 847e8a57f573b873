"""In-memory connectors implementing the ports, for engine unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from crmsync.errors import CrmsyncError, IngressError, TransientError
from crmsync.ports import Capabilities, ChangeEvent, DeliveryResult, Projection, SourceRecord


def customer(cid: str, first: str = "Ada", version: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "version": version,
        "email": f"{cid}@example.com",
        "firstName": first,
        "lastName": "Lovelace",
        "addresses": [
            {
                "id": "a1",
                "country": "DE",
                "city": "Berlin",
                "streetName": "Unter den Linden",
                "streetNumber": "1",
                "postalCode": "10117",
            }
        ],
        "defaultBillingAddressId": "a1",
        "billingAddressIds": ["a1"],
        "createdAt": "2026-01-01T00:00:00.000Z",
        "lastModifiedAt": "2026-01-01T00:00:00.000Z",
        **extra,
    }


class FakeSource:
    system = "commercetools"

    def __init__(self, name: str = "shop") -> None:
        self.name = name
        self.capabilities = Capabilities(
            entities=frozenset({"customer"}),
            read_pages=True,
            read_by_ids=True,
            change_feed=True,
            ingress=True,
        )
        self.records: dict[str, dict[str, Any]] = {}
        self.feed: list[ChangeEvent] = []
        self.reads = 0
        self.page_size = 500

    def put(self, rec: dict[str, Any]) -> None:
        self.records[rec["id"]] = rec

    async def read_pages(
        self, kind: str, *, after: str | None = None, page_size: int = 500
    ) -> AsyncIterator[list[SourceRecord]]:
        ids = sorted(i for i in self.records if after is None or i > after)
        size = min(page_size, self.page_size)
        for i in range(0, len(ids), size):
            self.reads += 1
            yield [self._rec(x) for x in ids[i : i + size]]

    async def read_by_ids(self, kind: str, ids: list[str]) -> list[SourceRecord]:
        self.reads += 1
        return [self._rec(i) for i in ids if i in self.records]

    def _rec(self, cid: str) -> SourceRecord:
        data = self.records[cid]
        return SourceRecord(kind="customer", id=cid, version=data["version"], data=data)

    async def poll_changes(
        self, kinds: list[str], cursor: dict[str, Any] | None
    ) -> tuple[list[ChangeEvent], dict[str, Any]]:
        pos = (cursor or {}).get("pos", 0)
        events = self.feed[pos:]
        return events, {"pos": pos + len(events)}

    def parse_ingress(self, body: bytes, headers: Mapping[str, str]) -> list[ChangeEvent]:
        raise IngressError("fake source has no ingress payloads")

    def cursor_at(self, at: datetime) -> dict[str, Any]:
        return {"pos": len(self.feed)}

    async def aclose(self) -> None:
        return None


def event(
    cid: str,
    seq: int,
    *,
    record: dict[str, Any] | None = None,
    deleted: bool = False,
    event_type: str = "CustomerFirstNameSet",
    event_id: str | None = None,
) -> ChangeEvent:
    return ChangeEvent(
        event_id=event_id or f"{cid}-{seq}",
        kind="customer",
        resource_id=cid,
        event_type=event_type,
        occurred_at=datetime.now(UTC),
        sequence=seq,
        resource_version=seq,
        record=record,
        deleted=deleted,
    )


class FakeTarget:
    system = "klaviyo"

    def __init__(self, name: str = "marketing", *, bulk: bool = True) -> None:
        self.name = name
        self.capabilities = Capabilities(
            entities=frozenset({"customer"}),
            upsert=True,
            bulk_upsert=bulk,
            max_bulk_records=10_000,
            find=True,
        )
        self.profiles: dict[str, dict[str, Any]] = {}
        self.upserts: list[str] = []
        self.last: dict[str, Projection] = {}
        self.bulk_calls: list[int] = []
        self.fail_transient: set[str] = set()
        self.fail_permanent: set[str] = set()

    def _apply(self, item: Projection) -> DeliveryResult:
        if item.record_key in self.fail_transient:
            return DeliveryResult(item.record_key, ok=False, error=TransientError("503 from fake"))
        if item.record_key in self.fail_permanent:
            return DeliveryResult(item.record_key, ok=False, error=CrmsyncError("400 from fake"))
        self.last[item.record_key] = item
        created = item.record_key not in self.profiles
        self.profiles[item.record_key] = item.payload
        return DeliveryResult(item.record_key, ok=True, target_id=f"P-{item.record_key}", created=created)

    async def upsert(self, item: Projection) -> DeliveryResult:
        self.upserts.append(item.record_key)
        return self._apply(item)

    async def bulk_upsert(self, items: list[Projection], progress: Any = None) -> list[DeliveryResult]:
        self.bulk_calls.append(len(items))
        out = [self._apply(i) for i in items]
        for r in out:
            r.target_id = None
        return out

    async def find(self, kind: str, identifiers: Mapping[str, str]) -> str | None:
        return None

    async def aclose(self) -> None:
        return None
