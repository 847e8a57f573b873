"""The sync engine: connector-agnostic. It imports the seams, mapping and store — never a connector."""

from crmsync.engine.bulk import BulkProgress, sync_all
from crmsync.engine.delivery import BatchOutcome, deliver_records
from crmsync.engine.flow import Flow
from crmsync.engine.live import ingest_events, poll_once, process_inbox, run_live
from crmsync.engine.stats import Failure, SyncStats

__all__ = [
    "BatchOutcome",
    "BulkProgress",
    "Failure",
    "Flow",
    "SyncStats",
    "deliver_records",
    "ingest_events",
    "poll_once",
    "process_inbox",
    "run_live",
    "sync_all",
]
