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
from crmsync.mapping import Projector
from crmsync.ports import SourceConnector, SourceRecord, TargetConnector
from crmsync.store import StateStore


class EventMapper(Protocol):
    """Turns one source record into the events it stands for (see crmsync.mapping.orders)."""

    def events(self, record: Mapping[str, Any]) -> list[dict[str, Any]]: ...


#: Ensures what records depend on exists at the target first; returns the records that must wait.
Prerequisite = Callable[[list[SourceRecord]], Awaitable[dict[str, CrmsyncError]]]


@dataclass
class Flow:
    name: str
    kind: str  # canonical entity kind, e.g. "customer"
    source: SourceConnector
    target: TargetConnector
    projector: Projector | None  # one projection per record (customers)...
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
