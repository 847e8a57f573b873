"""Operations on failures, the sync log and people (the service's ops half, a mixin of ``Service``):
dead letters (list, show with their last requests, replay through the normal pipeline, discard),
sync-log queries, and GDPR erasure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmsync.engine.delivery import dead_letter, deliver_records
from crmsync.engine.erasure import ErasureResult, erase_person
from crmsync.engine.flow import Flow
from crmsync.entities import entity_kind
from crmsync.errors import ConfigError, CrmsyncError
from crmsync.store import DeadLetter, LogEntry

if TYPE_CHECKING:
    from crmsync.config import Config
    from crmsync.engine.policy import RetryPolicy
    from crmsync.store import StateStore
    from crmsync.synclog import SyncLogWriter


class ServiceOps:
    config: Config
    store: StateStore
    flows: dict[tuple[str, str], Flow]
    synclog: SyncLogWriter
    policy: RetryPolicy

    # -- dead letters ---------------------------------------------------------------------------
    def dlq_list(self, status: str | None = "open", limit: int = 100) -> list[DeadLetter]:
        return self.store.dlq_list(status, limit=limit)

    def dlq_get(self, letter_id: int) -> DeadLetter:
        letter = self.store.dlq_get(letter_id)
        if letter is None:
            raise CrmsyncError(f"no dead letter {letter_id}")
        return letter

    def dlq_requests(self, letter: DeadLetter, *, last: int = 10) -> list[LogEntry]:
        """The record's last outbound requests and their outcomes, from the sync log.

        These are the "last request and response" of the letter: method, URL, status, latency and
        error of every attempt (the request body is the letter's payload, the response's error
        body its detail).
        """
        self.synclog.flush()
        return self.store.log_query(kind=letter.kind, record_key=letter.record_key, limit=last, latest=True)

    async def dlq_replay(self, ids: list[int]) -> dict[int, str]:
        """Send each letter's record through the normal pipeline again (re-read from the source).

        Idempotent: a record delivered meanwhile is "unchanged" and the letter resolves; a record that
        fails again keeps its (updated) open letter.
        """
        results: dict[int, str] = {}
        for letter_id in ids:
            letter = self.dlq_get(letter_id)
            if letter.status != "open":
                results[letter_id] = f"already {letter.status}"
                continue
            flow = self.flows.get((letter.flow, letter.kind))
            if flow is None:
                results[letter_id] = f"flow {letter.flow}/{letter.kind} is not configured"
                continue
            records = await flow.source.read_by_ids(letter.kind, [letter.record_key])
            if not records:
                self.store.dlq_resolve([letter_id], "discarded")
                results[letter_id] = "discarded: the record no longer exists at the source"
                continue
            outcome = await deliver_records(flow, records)  # one more attempt, added to the letter
            self.synclog.flush()
            if letter.record_key in outcome.delivered or letter.record_key in outcome.unchanged:
                self.store.dlq_resolve([letter_id], "replayed")
                results[letter_id] = "replayed: delivered"
            else:
                err = outcome.failed.get(letter.record_key) or outcome.retry.get(letter.record_key)
                if letter.record_key in outcome.retry and err is not None:
                    self.store.dlq_add([dead_letter(flow, letter.record_key, err, None, None, 1)])
                results[letter_id] = f"failed again: {err.message if err else 'unknown'}"
        return results

    def dlq_discard(self, ids: list[int]) -> int:
        return self.store.dlq_resolve(ids, "discarded")

    def log_entries(
        self, *, correlation_id: str | None = None, record: str | None = None, limit: int = 200
    ) -> list[LogEntry]:
        kind = key = None
        if record is not None:
            kind, sep, key = record.partition(":")
            if not sep or not kind or not key:
                raise ConfigError(f"--record takes KIND:ID (e.g. customer:3cd...), not {record!r}")
            kind = entity_kind(kind)
        self.synclog.flush()
        return self.store.log_query(
            correlation_id=correlation_id,
            kind=kind,
            record_key=key,
            limit=limit,
            latest=correlation_id is None and record is None,
        )

    async def erase(
        self,
        kind: str = "customer",
        *,
        record_key: str | None = None,
        email: str | None = None,
        phone_number: str | None = None,
        reason: str = "erasure request",
    ) -> list[ErasureResult]:
        """Erase one person from every target of every flow of ``kind``, then from the store and the
        sync log, leaving a tombstone; raises ErasureFailed (nothing purged) when a target refused."""
        kind = entity_kind(kind)
        identifiers = {k: v for k, v in {"email": email, "phone_number": phone_number}.items() if v}
        by_source: dict[str, list[Flow]] = {}
        for (_, fkind), flow in self.flows.items():
            if fkind == kind:
                by_source.setdefault(flow.source.name, []).append(flow)
        if not by_source:
            raise ConfigError(f"no flow syncs {kind} records: nothing to erase from")
        self.synclog.flush()  # the entries about to be purged must be in the store first
        results = []
        for flows in by_source.values():
            results.append(
                await erase_person(
                    flows, kind=kind, record_key=record_key, identifiers=identifiers, reason=reason
                )
            )
        return results
