"""The service layer: one place that wires config → store, connectors, mapping and engine.

The CLI, the HTTP API and the Python API are thin layers over :class:`Service`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

from crmsync.config import Config, FlowSettings
from crmsync.connectors import create_connector
from crmsync.engine import BulkProgress, Flow, SyncStats, ingest_events, process_inbox, run_live, sync_all
from crmsync.engine.bulk import ProgressFn
from crmsync.engine.dependencies import categories_first, customers_first
from crmsync.engine.flow import RecordProjector, TwoWay
from crmsync.engine.policy import RetryPolicy
from crmsync.engine.readback import run_readback
from crmsync.entities import entity_kind
from crmsync.errors import ConfigError, CrmsyncError, IngressError
from crmsync.mapping import FieldChange, Projector, diff_payloads, load_contract
from crmsync.mapping.catalog_projector import CatalogProjector
from crmsync.mapping.orders import OrderEventProjector
from crmsync.mapping.segments import SegmentingProjector
from crmsync.ports import Connector, DeletingTarget, RequestRecord, SourceConnector, TargetConnector
from crmsync.ratelimit import LocalRateLimiter, SharedRateLimiter
from crmsync.service_ops import ServiceOps
from crmsync.store import StateStore
from crmsync.sync_jobs import SyncJobs
from crmsync.synclog import RedactionPolicy, SyncLogWriter

log = logging.getLogger("crmsync.service")

_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class RequestStats:
    """Counts every outbound request per connection (fed by the connectors' observer hook)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self.by_status: Counter[tuple[str, int]] = Counter()

    def __call__(self, rec: RequestRecord) -> None:
        with self._lock:
            self.requests[rec.connection] += 1
            if rec.method.upper() in _WRITE_METHODS and not rec.url.rstrip("/").endswith("/oauth/token"):
                self.writes[rec.connection] += 1
            if rec.status is not None:
                self.by_status[(rec.connection, rec.status)] += 1


@dataclass
class Preview:
    record_id: str
    source_fields: dict[str, Any]
    payload: dict[str, Any]
    identifiers: dict[str, str]
    last_delivered: dict[str, Any] | None
    changes: list[FieldChange]
    warnings: list[str] = field(default_factory=list)


class Service(ServiceOps):
    def __init__(self, config: Config, *, store: StateStore | None = None) -> None:
        self.config = config
        self.store = store or StateStore.open(config.store)
        self.requests = RequestStats()
        self.synclog = SyncLogWriter(
            self.store,
            policy=RedactionPolicy(config.log.pii, tuple(re.compile(p) for p in config.log.redact_patterns)),
            retention=timedelta(days=config.log.retention_days),
        )
        self.policy = RetryPolicy(
            schedule=tuple(config.retry.schedule_seconds),
            max_attempts=config.retry.max_attempts,
            max_age=timedelta(hours=config.retry.max_age_hours),
        )
        self.limiter: LocalRateLimiter | SharedRateLimiter = (
            SharedRateLimiter(self.store, headroom=config.rate_headroom)
            if self.store.backend == "postgresql"
            else LocalRateLimiter(headroom=config.rate_headroom)
        )
        self.connections: dict[str, Connector] = {}
        for name, settings in config.connections.items():
            self.connections[name] = create_connector(name, settings, self._observe, self.limiter)
        self.flows: dict[tuple[str, str], Flow] = {}
        self.unsupported: list[str] = []
        for fs in config.flows:
            self._build_flows(fs)
        if not self.flows:
            raise ConfigError("no flow has an entity that both its source and target support")
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.jobs = SyncJobs(self, self.worker_id)

    def _observe(self, rec: RequestRecord) -> None:
        self.requests(rec)
        self.synclog(rec)

    def _build_flows(self, fs: FlowSettings) -> None:
        source = self.connections[fs.source]
        target = self.connections[fs.target]
        if not isinstance(source, SourceConnector):
            raise ConfigError(f"connection {fs.source!r} cannot be a source", path=f"flows.{fs.name}.source")
        if not isinstance(target, TargetConnector):
            raise ConfigError(f"connection {fs.target!r} cannot be a target", path=f"flows.{fs.name}.target")
        contract = load_contract(fs.mapping)
        _check_match_order(fs, contract.identifiers, target)
        customers: Flow | None = None

        def customer_flow() -> Flow:
            nonlocal customers
            if customers is None:
                customers = self.flows.get((fs.name, "customer")) or self._flow(
                    fs,
                    "customer",
                    source,
                    target,
                    projector=SegmentingProjector(contract, fs.segmentation, fs.consent, fs.ownership),
                )
            return customers

        for kind in fs.entities:
            if kind not in source.capabilities.entities or kind not in target.capabilities.entities:
                self.unsupported.append(f"{fs.name}:{kind}")
                continue
            if kind == "customer":
                self.flows[(fs.name, kind)] = customer_flow()
            elif kind == "order":
                flow = self._flow(fs, kind, source, target, events=OrderEventProjector(fs.order_events))
                if "customer" in source.capabilities.entities:
                    flow.prerequisite = customers_first(customer_flow())
                self.flows[(fs.name, kind)] = flow
            elif kind in ("category", "product"):
                self.flows[(fs.name, kind)] = self._catalog_flow(fs, kind, source, target)
            else:
                self.unsupported.append(f"{fs.name}:{kind}")
        products = self.flows.get((fs.name, "product"))
        if products is not None and "category" in source.capabilities.entities:
            categories = self.flows.get((fs.name, "category")) or self._catalog_flow(
                fs, "category", source, target
            )
            products.prerequisite = categories_first(categories)

    def _catalog_flow(
        self, fs: FlowSettings, kind: str, source: SourceConnector, target: TargetConnector
    ) -> Flow:
        catalog_kind: Literal["category", "product"] = "category" if kind == "category" else "product"
        flow = self._flow(fs, kind, source, target, projector=CatalogProjector(catalog_kind, fs.catalog))
        flow.target_kind = "catalog_category" if kind == "category" else "catalog_item"
        flow.deletes = target.capabilities.delete and isinstance(target, DeletingTarget)
        descendants = getattr(source, "descendants", None)
        if kind == "category" and descendants is not None:

            async def related(ids: list[str]) -> list[str]:
                found: list[str] = []
                for category_id in ids:
                    found += await descendants(category_id)
                return found

            flow.related = related
        return flow

    def _flow(
        self,
        fs: FlowSettings,
        kind: str,
        source: SourceConnector,
        target: TargetConnector,
        *,
        projector: RecordProjector | None = None,
        events: OrderEventProjector | None = None,
    ) -> Flow:
        return Flow(
            name=fs.name,
            kind=kind,
            source=source,
            target=target,
            projector=projector,
            events=events,
            store=self.store,
            bulk_threshold=fs.bulk_threshold,
            batch_size=fs.batch_size,
            policy=self.policy,
            lease_ttl=timedelta(seconds=fs.lease_seconds),
            match_order=tuple(fs.match_order) if kind == "customer" else (),
            two_way=_two_way(fs) if kind == "customer" else None,
        )

    # -- lookup -----------------------------------------------------------------------------
    def flow(self, kind: str = "customer", name: str | None = None) -> Flow:
        for (fname, fkind), flow in self.flows.items():
            if fkind == kind and (name is None or fname == name):
                return flow
        raise ConfigError(
            f"no flow syncs {kind} records"
            + (f" under the name {name!r}" if name else "")
            + (f" (not supported yet: {', '.join(self.unsupported)})" if self.unsupported else "")
        )

    def flow_settings(self, name: str) -> FlowSettings:
        return self.config.flow(name)

    # -- operations ---------------------------------------------------------------------------
    async def sync(
        self,
        entity: str,
        *,
        ids: list[str] | None = None,
        flow_name: str | None = None,
        progress: ProgressFn | None = None,
        stop: asyncio.Event | None = None,
        resume: bool = True,
        stats: SyncStats | None = None,
    ) -> tuple[bool, SyncStats]:
        """One bulk sync run on its own copy of the flow (its counts are not mixed with live sync's);
        ``stats`` lets a caller watch the counts while it runs."""
        flow = replace(self.flow(entity_kind(entity), flow_name), stats=stats or SyncStats())
        before = self.requests.writes[flow.target.name]
        try:
            complete = await sync_all(flow, ids=ids, progress=progress, stop=stop, resume=resume)
        finally:
            self.synclog.flush()
            flow.stats.target_writes = self.requests.writes[flow.target.name] - before
        return complete, flow.stats

    async def run_live(self, stop: asyncio.Event, *, on_cycle: Any = None) -> None:
        async def cycle(busy: bool) -> None:
            self.synclog.flush()
            if on_cycle is not None:
                res = on_cycle(busy)
                if asyncio.iscoroutine(res):
                    await res

        tasks = [asyncio.create_task(self._housekeeping(stop))]
        for flow in self.flows.values():
            poll = self.flow_settings(flow.name).poll_interval_seconds
            tasks.append(asyncio.create_task(run_live(flow, stop, poll_interval=poll, on_cycle=cycle)))
            if flow.two_way is not None and flow.two_way.active:
                tasks.append(asyncio.create_task(run_readback(flow, stop, interval=poll)))
        try:
            await asyncio.gather(*tasks)
        finally:
            self.synclog.flush()

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        """Flush the sync log every second; resume sync jobs whose worker died; apply the log's
        retention every hour."""
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            self.synclog.flush()
            try:
                for job_id in self.jobs.resume_orphans():
                    log.info("resumed sync job %d (its worker stopped renewing its lease)", job_id)
            except CrmsyncError as exc:
                log.warning("resuming sync jobs failed: %s", exc)
            if loop.time() - last_purge > 3600:
                purged = self.synclog.purge()
                if purged:
                    log.info("sync log retention: %d old entries deleted", purged)
                last_purge = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def ingest(self, connection: str, body: bytes, headers: Mapping[str, str]) -> int:
        """Store one pushed delivery durably; raise IngressError for malformed input."""
        source = self.connections.get(connection)
        if source is None or not isinstance(source, SourceConnector) or not source.capabilities.ingress:
            raise IngressError(f"no ingress for connection {connection!r}", status=404)
        events = source.parse_ingress(body, headers)
        resolve = getattr(source, "resolve_events", None)
        if resolve is not None and events:
            events = await resolve(events)
        stored = 0
        for flow in self.flows.values():
            if flow.source is source:
                stored += ingest_events(flow, events)
        return stored

    async def drain(self) -> int:
        """Process every pending inbox event once (used by tests and the demo)."""
        total = 0
        for flow in self.flows.values():
            while (n := await process_inbox(flow)) > 0:
                total += n
        return total

    async def preview(
        self, record_id: str, *, kind: str = "customer", flow_name: str | None = None
    ) -> Preview:
        flow = self.flow(kind, flow_name)
        records = await flow.source.read_by_ids(kind, [record_id])
        if not records:
            raise CrmsyncError(f"{kind} {record_id} not found in {flow.source.name}", record_key=record_id)
        if not isinstance(flow.projector, Projector):
            raise CrmsyncError(f"mapping preview is for mapping contracts; {kind} records are mapped in code")
        result = flow.projector.project(records[0].data)
        internal = self.store.resolve(kind, flow.source.system, "id", record_id)
        last = self.store.get_delivered(flow.target_key, [internal]).get(internal) if internal else None
        return Preview(
            record_id=record_id,
            source_fields=dict(result.source_fields),
            payload=result.payload,
            identifiers=dict(result.identifiers),
            last_delivered=last.payload if last else None,
            changes=diff_payloads(last.payload if last else None, result.payload),
            warnings=list(result.warnings),
        )

    def status(self) -> dict[str, Any]:
        flows = []
        for (name, kind), flow in self.flows.items():
            flows.append(
                {
                    "flow": name,
                    "entity": kind,
                    "source": flow.source.name,
                    "target": flow.target.name,
                    "bulk": self.store.get_checkpoint(flow.checkpoint_name("bulk")),
                    "feed": _summarize_cursor(self.store.get_checkpoint(flow.feed_checkpoint)),
                }
            )
        return {
            "store": self.store.url_for_display,
            "flows": flows,
            "unsupported": self.unsupported,
            "inbox": self.store.inbox_counts(),
            "dead_letters": self.store.dlq_counts(),
            "counts": self.store.stats(),
        }

    async def aclose(self) -> None:
        await self.jobs.aclose()
        with contextlib.suppress(Exception):
            self.synclog.flush()
        for conn in self.connections.values():
            try:
                await conn.aclose()
            except Exception as exc:  # closing must not hide the real outcome
                log.debug("closing %s failed: %s", conn.name, exc)
        self.store.close()


def _summarize_cursor(cursor: dict[str, Any] | None) -> dict[str, Any] | None:
    """A feed cursor for humans: lists (e.g. thousands of recent message ids) become their length."""
    if cursor is None:
        return None
    return {k: (f"{len(v)} entries" if isinstance(v, list) else v) for k, v in cursor.items()}


__all__ = ["BulkProgress", "Preview", "RequestStats", "Service", "entity_kind"]


def _two_way(fs: FlowSettings) -> TwoWay | None:
    """What a customer flow reads back from its CRM: consent when the CRM owns it; with
    ``ownership.two_way``, the CRM-owned attributes (and write-back) and restoring edits."""
    consent: dict[str, str] = (
        {ch: src.field for ch, src in fs.consent.channels.items()} if fs.consent.owner == "crm" else {}
    )
    consent_at: dict[str, str] = {
        ch: src.at_field for ch, src in fs.consent.channels.items() if src.at_field and ch in consent
    }
    own = fs.ownership
    rules = TwoWay(
        consent_fields=consent,
        consent_at_fields=consent_at,
        crm_paths=tuple(own.crm) if own.two_way else (),
        write_back=dict(own.write_back) if own.two_way else {},
        restore=own.two_way and own.restore,
    )
    return rules if rules.active else None


def _check_match_order(fs: FlowSettings, identifiers: Mapping[str, Any], target: TargetConnector) -> None:
    """Every match rule must name an identifier the contract projects and the target can look up by."""
    if not fs.match_order or "customer" not in fs.entities:
        return
    path = f"flows.{fs.name}.match_order"
    unmapped = [name for name in fs.match_order if name not in identifiers]
    if unmapped:
        raise ConfigError(
            f"{', '.join(unmapped)} is not an identifier of the mapping contract "
            f"(it has {', '.join(identifiers) or 'none'})",
            path=path,
        )
    caps = target.capabilities
    unsupported = [name for name in fs.match_order if not caps.find or name not in caps.find_by]
    if unsupported:
        raise ConfigError(
            f"{target.system} connection {target.name!r} cannot look a record up by "
            f"{', '.join(unsupported)} (it can by {', '.join(sorted(caps.find_by)) or 'nothing'})",
            path=path,
        )
