"""The sync log writer: every outbound request, buffered and written in batches to the store.

Connectors report each request (``crmsync.ports.RequestRecord``) with URLs already free of
secrets; this writer also removes personal data by policy (:class:`RedactionPolicy`: e-mail
addresses, phone numbers and any pattern the operator adds, in URLs and error texts) before
anything is stored. Entries are flushed by the service at the end
of every sync batch and live cycle (and once a second while running), so a crash loses at most the
entries of the requests in flight.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crmsync.ports import RequestRecord
from crmsync.store import LogEntry, StateStore

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?:\+|%2B)\d{7,15}")


def redact_url(url: str) -> str:
    """Mask e-mail addresses and E.164 phone numbers anywhere in a URL."""
    return _PHONE.sub("+***", _EMAIL.sub("***@***", url))


@dataclass(frozen=True, slots=True)
class RedactionPolicy:
    """What the sync log may keep of personal data.

    ``mask`` (the default) replaces e-mail addresses and phone numbers, plus every match of the
    operator's ``patterns`` (e.g. national ids, loyalty numbers), in URLs and error texts; ``keep``
    stores them as sent (for a sandbox only). Secrets are removed by the connectors whatever the
    policy says.
    """

    mode: str = "mask"
    patterns: tuple[re.Pattern[str], ...] = ()

    def apply(self, text: str | None) -> str | None:
        if text is None or self.mode == "keep":
            return text
        text = redact_url(text)
        for pattern in self.patterns:
            text = pattern.sub("***", text)
        return text


class SyncLogWriter:
    def __init__(
        self,
        store: StateStore,
        *,
        policy: RedactionPolicy | None = None,
        retention: timedelta | None = None,
    ) -> None:
        self._store = store
        self._policy = policy or RedactionPolicy()
        self._retention = retention
        self._buffer: list[LogEntry] = []
        self._lock = threading.Lock()
        self.written = 0

    def __call__(self, rec: RequestRecord) -> None:
        entry = LogEntry(
            at=rec.started_at if rec.started_at.tzinfo else rec.started_at.replace(tzinfo=UTC),
            connection=rec.connection,
            method=rec.method,
            url=self._policy.apply(rec.url) or "",
            status=rec.status,
            latency_ms=rec.latency_ms,
            attempt=rec.attempt,
            operation=rec.operation,
            correlation_id=rec.correlation_id,
            kind=rec.kind,
            record_key=rec.record_key,
            error=self._policy.apply(rec.error),
        )
        with self._lock:
            self._buffer.append(entry)

    def flush(self) -> int:
        with self._lock:
            batch, self._buffer = self._buffer, []
        if batch:
            self._store.log_add(batch)
            self.written += len(batch)
        return len(batch)

    def purge(self) -> int:
        """Apply the retention setting; returns how many entries were deleted."""
        if self._retention is None:
            return 0
        return self._store.log_purge(datetime.now(UTC) - self._retention)
