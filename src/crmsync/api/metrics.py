"""Prometheus metrics: a collector that reads the service's live counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from crmsync.service import Service

_FLOW_COUNTERS = {
    "read": "records read from the source",
    "delivered": "records delivered to the target",
    "unchanged": "records skipped because their projection did not change",
    "stale": "events or records older than what was already applied",
    "failed": "records that failed permanently",
    "events_received": "change events stored in the inbox",
    "events_processed": "change events settled",
}


class ServiceCollector(Collector):
    def __init__(self, service: Service) -> None:
        self._service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        svc = self._service
        for field, doc in _FLOW_COUNTERS.items():
            family = CounterMetricFamily(f"crmsync_{field}", doc, labels=["flow", "entity"])
            for (name, kind), flow in svc.flows.items():
                family.add_metric([name, kind], float(getattr(flow.stats, field)))
            yield family
        requests = CounterMetricFamily(
            "crmsync_outbound_requests", "HTTP requests to connected systems", labels=["connection", "status"]
        )
        for (connection, status), count in sorted(svc.requests.by_status.items()):
            requests.add_metric([connection, str(status)], float(count))
        yield requests
        inbox = GaugeMetricFamily("crmsync_inbox_events", "events in the durable inbox", labels=["status"])
        for state, count in svc.store.inbox_counts().items():
            inbox.add_metric([state], float(count))
        yield inbox
