"""A flow at run time: one source, one target, one mapping contract, one store."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from crmsync.engine.policy import RetryPolicy
from crmsync.engine.stats import SyncStats
from crmsync.errors import CrmsyncError
from crmsync.ports import SourceConnector, SourceRecord, TargetConnector
from crmsync.store import StateStore


class Projected(Protocol):
    @property
    def payload(self) -> dict[str, Any]: ...

    @property
    def identifiers(self) -> Mapping[str, str]: ...


class RecordProjector(Protocol):
    """One projection per record: the mapping contract (customers) or the catalog mapping."""

    def project(self, record: Mapping[str, Any]) -> Projected: ...


class EventMapper(Protocol):
    """Turns one source record into the events it stands for (see crmsync.mapping.orders)."""

    def events(self, record: Mapping[str, Any]) -> list[dict[str, Any]]: ...


#: Ensures what records depend on exists at the target first; returns the records that must wait.
Prerequisite = Callable[[list[SourceRecord]], Awaitable[dict[str, CrmsyncError]]]
#: Ids of other records whose projection changes with these records (a category's descendants).
Related = Callable[[list[str]], Awaitable[list[str]]]


@dataclass(frozen=True)
class TwoWay:
    """What a flow reads back from its CRM (built from the flow's ownership and consent settings)."""

    consent_fields: Mapping[str, str] = field(default_factory=dict)  # channel -> shop flag field
    consent_at_fields: Mapping[str, str] = field(default_factory=dict)  # channel -> shop "when" field
    crm_paths: tuple[str, ...] = ()  # payload paths the CRM owns: recorded as they change
    write_back: Mapping[str, str] = field(default_factory=dict)  # CRM path -> shop custom field
    restore: bool = False  # re-send the shop's values of attributes the CRM changed

    @property
    def active(self) -> bool:
        return bool(self.consent_fields or self.crm_paths or self.restore)


@dataclass
class Flow:
    name: str
    kind: str  # canonical entity kind, e.g. "customer"
    source: SourceConnector
    target: TargetConnector
    projector: RecordProjector | None  # one projection per record (customers, catalog)...
    store: StateStore
    bulk_threshold: int = 100
    batch_size: int = 10_000
    stats: SyncStats = field(default_factory=SyncStats)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    lease_ttl: timedelta = timedelta(seconds=60)  # how long a claimed record stays ours if we die
    events: EventMapper | None = None  # ...or several events per record (orders)
    prerequisite: Prerequisite | None = None
    target_kind: str | None = None  # the projections' kind at the target, when not ``kind``
    deletes: bool = False  # a record deleted at the source is deleted at the target
    related: Related | None = None  # records whose projection embeds this one's (descendants)
    match_order: tuple[str, ...] = ()  # look a new record up at the target first, by these, in order
    two_way: TwoWay | None = None  # what comes back from the CRM (consent it owns, attributes, edits)

    @property
    def projection_kind(self) -> str:
        return self.target_kind or self.kind

    @property
    def target_key(self) -> str:
        """Name of the target in the store: connection name and entity kind."""
        return f"{self.target.name}:{self.kind}"

    @property
    def source_key(self) -> str:
        return self.source.name

    @property
    def feed_checkpoint(self) -> str:
        """Name of the change-feed cursor checkpoint (one per source connection and kind)."""
        return f"feed:{self.source_key}:{self.kind}"

    def checkpoint_name(self, purpose: str) -> str:
        return f"{purpose}:{self.name}:{self.kind}"
