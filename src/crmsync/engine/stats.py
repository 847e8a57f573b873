"""Counters and timings of one sync run, for progress bars, summaries and benchmarks."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Failure:
    record_key: str
    reason: str
    recovery: str
    field: str | None = None


@dataclass
class SyncStats:
    read: int = 0  # records read from the source
    projected: int = 0
    unchanged: int = 0  # projection hash equal to what was last delivered: no call
    stale: int = 0  # older than what was already applied
    delivered: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    deleted: int = 0
    consent_updates: int = 0  # consent channels sent (subscribe / unsubscribe)
    refused: int = 0  # records and events of erased people (tombstones): never sent
    conflicts: int = 0  # ownership conflicts logged (the owner's value stood)
    restored: int = 0  # records re-sent because the CRM changed an attribute the source owns
    written_back: int = 0  # records whose CRM-owned values (or consent) were written to the source
    target_writes: int = 0  # write requests sent to the target
    bulk_jobs: int = 0
    events_received: int = 0  # change events stored in the inbox
    events_processed: int = 0
    failures: list[Failure] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # stored event -> target call done

    def add_failure(self, failure: Failure, *, keep: int = 1000) -> None:
        self.failed += 1
        if len(self.failures) < keep:
            self.failures.append(failure)

    def latency_percentile(self, pct: float) -> float | None:
        if not self.latencies_ms:
            return None
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        cuts = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        return cuts[max(0, min(98, round(pct) - 1))]

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "read": self.read,
            "projected": self.projected,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "delivered": self.delivered,
            "created": self.created,
            "updated": self.updated,
            "failed": self.failed,
            "deleted": self.deleted,
            "refused": self.refused,
            "consent_updates": self.consent_updates,
            "conflicts": self.conflicts,
            "restored": self.restored,
            "written_back": self.written_back,
            "target_writes": self.target_writes,
            "bulk_jobs": self.bulk_jobs,
            "events_received": self.events_received,
            "events_processed": self.events_processed,
            "latency_p50_ms": self.latency_percentile(50),
            "latency_p99_ms": self.latency_percentile(99),
        }
