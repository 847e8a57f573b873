"""The seam between the engine and connectors.

Connectors implement :class:`SourceConnector` and/or :class:`TargetConnector` and declare what they
can do in :class:`Capabilities`. The engine imports this module, never a connector: it asks
capabilities, never "which vendor is this". Records cross the seam as plain JSON-able dicts in the
vendor's own shape (``SourceRecord.data``) and as projected target payloads (``Projection``); the
mapping contract turns one into the other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from crmsync.errors import CrmsyncError

JSON = dict[str, Any]
#: Reserved projection payload key: the names of the lists (one per store) a profile belongs to;
#: targets join them and leave the ones only ``Projection.previous`` names. Not an attribute.
LISTS = "$lists"


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do, as data. The engine branches on these flags only."""

    entities: frozenset[str] = frozenset()
    # source side
    read_pages: bool = False  # full read by keyset pages
    read_by_ids: bool = False  # batched read of given ids
    change_feed: bool = False  # poll_changes() with a cursor
    ingress: bool = False  # parse_ingress() for pushed deliveries (webhooks, Pub/Sub push)
    # target side
    upsert: bool = False  # one record per call, idempotent by a stable external id
    bulk_upsert: bool = False  # asynchronous bulk jobs
    max_bulk_records: int = 0  # per bulk job
    max_bulk_bytes: int = 0  # per bulk job request body
    find: bool = False  # look a record up by identifiers before creating
    # the identifiers ``find`` can look up by (external_id, email, phone_number, national_id ...)
    find_by: frozenset[str] = frozenset()
    delete: bool = False
    max_page_size: int = 0


@dataclass
class SourceRecord:
    """One record read from a source, in the source's wire shape."""

    kind: str  # canonical entity kind: "customer", "order", ...
    id: str  # the source system's id
    version: int | None
    data: JSON
    modified_at: datetime | None = None
    correlation_id: str | None = None


@dataclass
class ChangeEvent:
    """One change from a source feed or ingress, before it enters the durable inbox.

    ``event_id`` is the deduplication key: the commercetools message id, or
    ``"<resource id>:<version>"`` for change notifications.
    ``sequence`` orders events per resource (message ``sequenceNumber`` or resource ``version``).
    ``record`` is the full resource when the event carried it (e.g. CustomerCreated); otherwise the
    engine re-reads the resource (``needs_fetch``).
    """

    event_id: str
    kind: str
    resource_id: str
    event_type: str
    occurred_at: datetime
    sequence: int | None = None
    resource_version: int | None = None
    record: JSON | None = None
    deleted: bool = False
    data_erasure: bool = False
    correlation_id: str | None = None
    raw: JSON = field(default_factory=dict)

    @property
    def needs_fetch(self) -> bool:
        return self.record is None and not self.deleted


@dataclass
class Projection:
    """A record as the target will receive it: the mapped payload plus stable identifiers."""

    kind: str
    record_key: str  # stable key of the source record (its external id in the target)
    payload: JSON  # target attributes, in the target's shape
    identifiers: dict[str, str] = field(default_factory=dict)  # e.g. {"external_id": .., "email": ..}
    correlation_id: str | None = None
    # Dot paths that were delivered before and are absent from ``payload`` now: the target must
    # clear them (most APIs treat an absent field as "unchanged", so omission alone would keep the
    # stale value).
    clear: list[str] = field(default_factory=list)
    # The payload delivered last time (None for a first delivery), for targets whose writes are
    # differential beyond attributes (e.g. leaving the lists named in ``payload["$lists"]`` before).
    previous: JSON | None = None


@dataclass
class DeliveryResult:
    record_key: str
    ok: bool
    target_id: str | None = None  # the target's own id, when known (e.g. Klaviyo profile id)
    created: bool | None = None
    error: CrmsyncError | None = None
    calls: int = 1  # write requests this delivery cost (for statistics)
    note: str | None = None  # ok, but deliberately not applied: why (e.g. a newer "no" kept at the target)


ProgressCallback = Callable[[int, int], Awaitable[None] | None]  # (done, total)


@runtime_checkable
class Connector(Protocol):
    name: str  # the connection name from the config
    system: str  # "commercetools", "klaviyo", ...
    capabilities: Capabilities

    async def aclose(self) -> None: ...


@runtime_checkable
class SourceConnector(Connector, Protocol):
    def read_pages(
        self, kind: str, *, after: str | None = None, page_size: int = 500
    ) -> AsyncIterator[list[SourceRecord]]:
        """Yield pages in a stable keyset order; ``after`` resumes after that id."""
        ...

    async def read_by_ids(self, kind: str, ids: list[str]) -> list[SourceRecord]: ...

    async def poll_changes(self, kinds: list[str], cursor: JSON | None) -> tuple[list[ChangeEvent], JSON]:
        """Return the changes since ``cursor`` and the new cursor (stored only after the events are)."""
        ...

    def parse_ingress(self, body: bytes, headers: Mapping[str, str]) -> list[ChangeEvent]:
        """Parse one pushed delivery; raise :class:`crmsync.errors.IngressError` with a precise reason."""
        ...

    def cursor_at(self, at: datetime) -> JSON:
        """A change-feed cursor that starts at ``at`` (a bulk sync pins the feed to its start time,
        so changes made while it runs are picked up by the live sync afterwards)."""
        ...


@runtime_checkable
class TargetConnector(Connector, Protocol):
    async def upsert(self, item: Projection) -> DeliveryResult: ...

    async def bulk_upsert(
        self, items: list[Projection], progress: ProgressCallback | None = None
    ) -> list[DeliveryResult]: ...

    async def find(self, kind: str, identifiers: Mapping[str, str]) -> str | None: ...


@runtime_checkable
class DeletingTarget(TargetConnector, Protocol):
    """A target that can delete what it holds (``capabilities.delete``): catalog records whose
    source record was deleted. Already gone counts as deleted (``ok=True``)."""

    async def delete(self, item: Projection) -> DeliveryResult: ...


@dataclass(frozen=True)
class ConsentUpdate:
    """One channel's consent for one person, as the owner of consent decided it.

    ``channel``: ``email_marketing`` | ``sms_marketing`` | ``sms_transactional``; ``at``: when the
    person gave or withdrew it (the source's timestamp); ``list_name``: a list (e.g. the store's)
    the person joins when subscribing.
    """

    record_key: str
    identifiers: Mapping[str, str]
    channel: str
    subscribed: bool
    at: datetime | None = None
    list_name: str | None = None
    correlation_id: str | None = None


@runtime_checkable
class ConsentTarget(TargetConnector, Protocol):
    """A target that keeps consent (Klaviyo subscriptions). ``historical``: a backfill of consent
    given in the past (keep ``at``, no confirmation flows) rather than a change made just now."""

    async def set_consent(
        self, updates: list[ConsentUpdate], *, historical: bool
    ) -> list[DeliveryResult]: ...


@runtime_checkable
class ProfileChangeSource(Protocol):
    """A CRM that reports people changed on its side (two-way flows: consent or attributes it owns,
    and edits of attributes it does not own).

    ``profile_changes(cursor)`` returns ``(changes, new cursor)``: one dict per changed person,
    ``{"external_id", "email", "target_id", "updated": datetime | None, "attributes": {...},
    "consent": {channel: "subscribed" | "unsubscribed"}, "consent_at": {channel: ISO time}}`` —
    ``attributes`` in the shape of the
    projections the flow delivers (so payload paths name the same values both ways), consent
    channels absent when never asked. Store the cursor only after acting on the changes.
    """

    async def profile_changes(self, cursor: str | None) -> tuple[list[dict[str, Any]], str]: ...


@runtime_checkable
class FieldWriter(Protocol):
    """A source that takes values back (commercetools custom fields): ``set_custom_fields`` writes
    the given fields of one record (``None`` removes one) and returns False when they already held
    these values — nothing written, which is also how a write of ours coming back is recognised."""

    async def set_custom_fields(self, record_id: str, fields: Mapping[str, Any]) -> bool: ...


@runtime_checkable
class ErasingTarget(TargetConnector, Protocol):
    """A target that can erase a person (GDPR): ``identifiers`` holds what is known — ``email``,
    ``phone_number``, the target's own ``profile_id``. ``ok`` means the request was accepted."""

    async def erase(
        self, identifiers: Mapping[str, str], *, correlation_id: str | None = None
    ) -> DeliveryResult: ...


@dataclass
class RequestRecord:
    """What a connector reports about each outbound HTTP request (for the sync log and stats)."""

    connection: str
    method: str
    url: str  # never contains secrets
    status: int | None
    latency_ms: float
    started_at: datetime
    attempt: int = 1
    correlation_id: str | None = None
    operation: str | None = None
    error: str | None = None
    kind: str | None = None  # the entity kind and source record key, when one record caused it
    record_key: str | None = None


RequestObserver = Callable[[RequestRecord], None]


@runtime_checkable
class RateLimiter(Protocol):
    """One rate budget per target account, shared by every job and worker that uses it.

    ``bucket`` names the budget (e.g. ``klaviyo:<account>:create_or_update_profile``); ``limits``
    are ``(requests, window_seconds)`` pairs that must all hold in *any* window of that length.
    ``acquire`` waits until one more request fits; ``hold`` stops the bucket for ``seconds`` (a
    429's Retry-After applies to every sender, not only the one that saw it).
    """

    async def acquire(self, bucket: str, limits: Sequence[tuple[int, float]]) -> None: ...

    def hold(self, bucket: str, seconds: float) -> None: ...
