"""Many events through ``POST /api/event-bulk-create-jobs`` (operation bulk_create_events).

Body (spec ``EventsBulkCreateJob``): one entry per profile, each with that profile's events::

    {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": [
        {"type": "event-bulk-create", "attributes": {
            "profile": {"data": {"type": "profile", "attributes": {identifiers}}},
            "events": {"data": [{"type": "event", "attributes": {...}}, ...]}}}]}}}}

Rules from the spec that shape the packing:

* "Accepts up to 1,000 events per request. The maximum allowed payload size is 5MB." Requests are
  packed by event count and by *measured* bytes (5,000,000, below both readings of "5MB"); an event
  that alone would not fit is refused locally.
* "If a unique_id is repeated for the same profile and metric, the request will fail and no events
  will be processed." Klaviyo decides which entries are "the same profile" (two entries may resolve to
  one profile through any shared identifier), so no request ever holds two events with the same
  (metric, unique_id); and an event repeated in the input — same profile, metric and unique_id — is
  sent once, its copies getting the first one's outcome (``calls=0``).
* Events are grouped by profile (equal identifiers, e-mail case-insensitive), so one entry carries all
  of a profile's events in a request.

The endpoint answers 202 with no body and offers no job to read back, so 202 means every event of
the request was accepted (``created=True``). A 400 whose ``source.pointer`` names one event fails that
event alone (:class:`~crmsync.errors.RecordValidationError` naming the field) and the rest of the
request is sent again without it; a pointer into an entry's profile fails that entry's events. Other
failures (5xx and 429 once the client's retries are exhausted, 403, 413 ...) are returned for every
event of the request with their own recovery.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace

import orjson

from crmsync.connectors.klaviyo.batching import (
    Tally,
    charge_calls,
    dotted_field,
    error_pointer,
    failed,
    invalid,
    pointer_segments,
    retag,
)
from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.connectors.klaviyo.events import (
    EVENT_KIND,
    EventSender,
    ProfileKey,
    bulk_event_resource,
    check_event,
    event_profile,
    metric_name,
    profile_key,
    profile_resource,
    unique_id,
)
from crmsync.errors import CrmsyncError, RecordValidationError
from crmsync.ports import DeliveryResult, ProgressCallback, Projection

JOBS_PATH = "/api/event-bulk-create-jobs"
MAX_EVENTS = 1_000
MAX_BYTES = 5_000_000
#: Requests of one call in flight at once (the endpoint allows 10/s and 150/min per account).
CONCURRENCY = 3
#: Rounds of "drop the event the 400 names and send the rest again" per request; past them the
#: remaining events are sent one by one through create_event, which isolates any further bad ones.
MAX_RESUBMITS = 10
#: How many of the latest requests still open are searched for room before a new one is started.
OPEN_WINDOW = 8

_PREFIX = b'{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":['
_SUFFIX = b"]}}}}"
_ENTRY_HEAD = b'{"type":"event-bulk-create","attributes":{"profile":{"data":'
_ENTRY_MID = b'},"events":{"data":['
_ENTRY_TAIL = b"]}}}"
_ENTRY_OVERHEAD = len(_ENTRY_HEAD) + len(_ENTRY_MID) + len(_ENTRY_TAIL)
ENVELOPE_BYTES = len(_PREFIX) + len(_SUFFIX)
_ENTRY_POINTER = re.compile(r"^/data/attributes/events-bulk-create/data/(\d+)(?:/|$)")


@dataclass
class Entry:
    """One profile's events in one request."""

    profile: bytes
    indexes: list[int] = field(default_factory=list)
    events: list[bytes] = field(default_factory=list)

    def body(self) -> bytes:
        return _ENTRY_HEAD + self.profile + _ENTRY_MID + b",".join(self.events) + _ENTRY_TAIL


@dataclass
class EventRequest:
    """The events of one bulk_create_events request, by profile entry, with their exact body size."""

    entries: dict[ProfileKey, Entry] = field(default_factory=dict)
    keys: set[tuple[str, str]] = field(default_factory=set)  # (metric, unique_id) held
    count: int = 0
    size: int = ENVELOPE_BYTES

    def added_bytes(self, key: ProfileKey, profile: bytes, part: bytes) -> int:
        entry = self.entries.get(key)
        if entry is not None:
            return len(part) + (1 if entry.events else 0)
        return _ENTRY_OVERHEAD + len(profile) + len(part) + (1 if self.entries else 0)

    def fits(self, key: ProfileKey, profile: bytes, part: bytes, dedup: tuple[str, str]) -> bool:
        return (
            self.count < MAX_EVENTS
            and dedup not in self.keys
            and self.size + self.added_bytes(key, profile, part) <= MAX_BYTES
        )

    def add(
        self, index: int, key: ProfileKey, profile: bytes, part: bytes, dedup: tuple[str, str] | None
    ) -> None:
        self.size += self.added_bytes(key, profile, part)
        entry = self.entries.setdefault(key, Entry(profile))
        entry.indexes.append(index)
        entry.events.append(part)
        if dedup is not None:
            self.keys.add(dedup)
        self.count += 1

    @property
    def indexes(self) -> list[int]:
        return [i for entry in self.entries.values() for i in entry.indexes]

    def body(self) -> bytes:
        return _PREFIX + b",".join(e.body() for e in self.entries.values()) + _SUFFIX

    def without(self, dropped: set[int]) -> EventRequest:
        kept = EventRequest()
        for key, entry in self.entries.items():
            for index, part in zip(entry.indexes, entry.events, strict=True):
                if index not in dropped:
                    kept.add(index, key, entry.profile, part, None)  # dedup keys only matter while packing
        return kept

    def locate(self, pointer: str | None) -> tuple[list[int], str | None] | None:
        """The items a 400's pointer names, and the field: one event, or one entry's events."""
        match = _ENTRY_POINTER.match(pointer or "")
        if match is None:
            return None
        entries = list(self.entries.values())
        position = int(match.group(1))
        if position >= len(entries):
            return None
        entry = entries[position]
        rest = pointer_segments(pointer)[5:]  # after data/attributes/events-bulk-create/data/<n>
        if rest[:3] == ["attributes", "events", "data"] and len(rest) > 3 and rest[3].isdigit():
            event_no = int(rest[3])
            if event_no >= len(entry.indexes):
                return None
            return [entry.indexes[event_no]], dotted_field(rest[4:])
        return list(entry.indexes), dotted_field(rest)


def pack_events(
    items: list[Projection], connection: str
) -> tuple[list[EventRequest], dict[int, DeliveryResult], dict[int, int]]:
    """(requests, locally refused results, duplicate index → index of the copy that is sent)."""
    refused: dict[int, DeliveryResult] = {}
    duplicates: dict[int, int] = {}
    first: dict[tuple[ProfileKey, str, str], int] = {}
    groups: dict[ProfileKey, list[tuple[int, bytes, tuple[str, str]]]] = {}
    profiles: dict[ProfileKey, bytes] = {}
    for index, item in enumerate(items):
        rejected = check_event(item, connection)
        if rejected is not None:
            refused[index] = rejected
            continue
        profile = event_profile(item)
        key = profile_key(profile)
        dedup = (metric_name(item), unique_id(item))
        seen = first.get((key, *dedup))
        if seen is not None:
            duplicates[index] = seen
            continue
        try:
            part = orjson.dumps(bulk_event_resource(item))
            profile_bytes = profiles.get(key) or orjson.dumps(profile_resource(profile))
        except (TypeError, orjson.JSONEncodeError) as exc:
            refused[index] = invalid(
                item,
                f"klaviyo event payload is not serializable to JSON: {exc}",
                field=None,
                connection=connection,
            )
            continue
        if ENVELOPE_BYTES + _ENTRY_OVERHEAD + len(profile_bytes) + len(part) > MAX_BYTES:
            refused[index] = invalid(
                item,
                f"klaviyo event is {len(part)} bytes serialized; a bulk_create_events request takes at most "
                f"{MAX_BYTES} bytes",
                field="properties",
                connection=connection,
            )
            continue
        first[(key, *dedup)] = index
        profiles[key] = profile_bytes
        groups.setdefault(key, []).append((index, part, dedup))

    requests: list[EventRequest] = []
    open_requests: list[EventRequest] = []
    for key, events in groups.items():
        for index, part, dedup in events:
            target = next(
                (
                    r
                    for r in reversed(open_requests[-OPEN_WINDOW:])
                    if r.fits(key, profiles[key], part, dedup)
                ),
                None,
            )
            if target is None:
                target = EventRequest()
                requests.append(target)
                open_requests.append(target)
            target.add(index, key, profiles[key], part, dedup)
            if target.count >= MAX_EVENTS:
                open_requests.remove(target)
    return requests, refused, duplicates


class BulkEventSender:
    """Delivers a batch of event projections through bulk_create_events requests."""

    def __init__(self, client: KlaviyoClient, single: EventSender, *, connection: str) -> None:
        self._client = client
        self._single = single
        self._connection = connection

    async def run(
        self, items: list[Projection], progress: ProgressCallback | None = None
    ) -> list[DeliveryResult]:
        requests, results, duplicates = pack_events(items, self._connection)
        total = len(items)
        # refused locally now; duplicates settle with their original, at the end
        tally = Tally(progress, total, len(results))

        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(request: EventRequest) -> dict[int, DeliveryResult]:
            async with gate:
                outcome = await self._send(request, items)
            await tally.add(request.count)
            return outcome

        tasks = [asyncio.create_task(one(r)) for r in requests]
        try:
            for outcome in await asyncio.gather(*tasks):
                results.update(outcome)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for index, original in duplicates.items():
            results[index] = replace(results[original], record_key=items[index].record_key, calls=0)
        await tally.finish()
        return [results[i] for i in range(total)]

    async def _send(self, request: EventRequest, items: list[Projection]) -> dict[int, DeliveryResult]:
        stats = CallStats()
        results: dict[int, DeliveryResult] = {}
        first_indexes = request.indexes
        for _ in range(MAX_RESUBMITS + 1):
            try:
                await self._client.request(
                    "POST",
                    JOBS_PATH,
                    body=request.body(),
                    operation="bulk_create_events",
                    kind=EVENT_KIND,
                    stats=stats,
                )
            except RecordValidationError as exc:
                located = request.locate(error_pointer(exc))
                if located is None:
                    self._fail(request, items, retag(exc, EVENT_KIND), results)
                    break
                dropped, fld = located
                for index in dropped:
                    results[index] = self._rejected(items[index], exc, fld)
                request = request.without(set(dropped))
                if not request.entries:
                    break
                continue
            except CrmsyncError as exc:
                self._fail(request, items, retag(exc, EVENT_KIND), results)
                break
            for index in request.indexes:
                results[index] = DeliveryResult(items[index].record_key, ok=True, created=True, calls=0)
            break
        else:
            # Too many bad events in one request: isolate the rest one by one (create_event, 350/s).
            singles = await asyncio.gather(*(self._single.upsert(items[i]) for i in request.indexes))
            results.update(zip(request.indexes, singles, strict=True))
        charge_calls(results, first_indexes, stats.attempts)
        return results

    def _rejected(self, item: Projection, exc: RecordValidationError, fld: str | None) -> DeliveryResult:
        label = f" field {fld!r}" if fld else ""
        result = invalid(
            item,
            f"klaviyo bulk_create_events rejected the event{label}: {exc.message}",
            field=fld,
            connection=self._connection,
            detail=exc.detail,
        )
        if result.error is not None:
            result.error.status = exc.status
        return result

    @staticmethod
    def _fail(
        request: EventRequest,
        items: list[Projection],
        error: CrmsyncError,
        results: dict[int, DeliveryResult],
    ) -> None:
        for index in request.indexes:
            results.setdefault(index, failed(items[index], error))
