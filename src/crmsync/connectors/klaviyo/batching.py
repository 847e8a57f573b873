"""Helpers shared by the event and catalog deliveries: byte-exact batches, progress, per-item results.

:class:`Batch` holds serialized members (``bytes``) and the item index each stands for; the request
body is ``prefix + b",".join(parts) + suffix``, so the size that was measured while packing is exactly
what is sent (the same approach as :mod:`crmsync.connectors.klaviyo.packing` for profiles).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from crmsync.errors import CrmsyncError, PermanentError, RecordValidationError
from crmsync.ports import DeliveryResult, ProgressCallback, Projection


class Batch:
    """Members of one request: item indexes and their serialized resource objects, in order."""

    def __init__(self, prefix: bytes, suffix: bytes) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.indexes: list[int] = []
        self.parts: list[bytes] = []
        self._payload = 0

    def fits(self, part: bytes, max_records: int, max_bytes: int) -> bool:
        separator = 1 if self.parts else 0
        return len(self.parts) < max_records and self.size + separator + len(part) <= max_bytes

    def add(self, index: int, part: bytes) -> None:
        self._payload += len(part) + (1 if self.parts else 0)
        self.indexes.append(index)
        self.parts.append(part)

    @property
    def size(self) -> int:
        """Exact byte size of :meth:`body`."""
        return len(self.prefix) + len(self.suffix) + self._payload

    def body(self) -> bytes:
        return self.prefix + b",".join(self.parts) + self.suffix

    def without(self, position: int) -> Batch:
        kept = Batch(self.prefix, self.suffix)
        for i, (index, part) in enumerate(zip(self.indexes, self.parts, strict=True)):
            if i != position:
                kept.add(index, part)
        return kept


def pack(
    members: Sequence[tuple[int, bytes]], prefix: bytes, suffix: bytes, *, max_records: int, max_bytes: int
) -> list[Batch]:
    """Split ``(index, part)`` members, in order, into batches within both limits.

    A member that alone exceeds ``max_bytes`` must have been rejected by the caller beforehand.
    """
    batches: list[Batch] = []
    current = Batch(prefix, suffix)
    for index, part in members:
        if current.parts and not current.fits(part, max_records, max_bytes):
            batches.append(current)
            current = Batch(prefix, suffix)
        current.add(index, part)
    if current.parts:
        batches.append(current)
    return batches


def retag(error: CrmsyncError, kind: str) -> CrmsyncError:
    """The client labels its errors ``entity="profile"``; name the kind actually delivered."""
    if error.entity in (None, "profile"):
        error.entity = kind
    return error


def failed(item: Projection, error: CrmsyncError, calls: int = 0) -> DeliveryResult:
    return DeliveryResult(item.record_key, ok=False, error=error, calls=calls)


def invalid(
    item: Projection, message: str, *, field: str | None, connection: str, detail: Any = None
) -> DeliveryResult:
    """A record refused locally or by a field-level error, as a permanent per-item failure."""
    error = RecordValidationError(
        message,
        field=field,
        connection=connection,
        entity=item.kind,
        record_key=item.record_key,
        correlation_id=item.correlation_id,
        detail=detail,
    )
    return failed(item, error)


def unsupported(
    item: Projection, connection: str, supported: str, action: str = "delivers"
) -> DeliveryResult:
    error = PermanentError(
        f"klaviyo connector {connection!r} {action} {supported} records only, not {item.kind!r}",
        connection=connection,
        entity=item.kind,
        record_key=item.record_key,
        correlation_id=item.correlation_id,
    )
    return failed(item, error)


def charge_calls(results: dict[int, DeliveryResult], indexes: Sequence[int], calls: int) -> None:
    """Charge a shared request's write attempts to the first of its items, so that sums are exact."""
    if indexes and calls and indexes[0] in results:
        first = results[indexes[0]]
        results[indexes[0]] = replace(first, calls=first.calls + calls)


def pointer_segments(pointer: str | None) -> list[str]:
    if not pointer:
        return []
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer.strip("/").split("/") if s]


def dotted_field(segments: Sequence[str]) -> str | None:
    """``["metric", "data", "attributes", "name"]`` → ``"metric.name"`` (JSON:API wrappers dropped)."""
    names = [s for s in segments if s not in ("data", "attributes") and not s.isdigit()]
    return ".".join(names) or None


def resource_field(pointer: str | None) -> str | None:
    """The field a single-resource pointer names: ``/data/attributes/price`` → ``"price"``,
    ``/data/attributes/profile/data/attributes/email`` → ``"profile.email"``,
    ``/data/relationships/categories/data/0/id`` → ``"categories.id"``; None for the whole resource."""
    segments = pointer_segments(pointer)
    if segments[:2] not in (["data", "attributes"], ["data", "relationships"]):
        return None
    return dotted_field(segments[2:])


def error_pointer(error: CrmsyncError) -> str | None:
    """``source.pointer`` of the first wire error a client error was built from (``error.detail``)."""
    detail = error.detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        source = detail[0].get("source")
        if isinstance(source, dict) and isinstance(source.get("pointer"), str):
            return str(source["pointer"])
    return None


class ProgressSplit:
    """Adds up the progress of several concurrent deliveries into one ``(done, total)`` callback."""

    def __init__(self, progress: ProgressCallback | None, total: int, already: int = 0) -> None:
        self._progress = progress
        self._total = total
        self._done: dict[str, int] = {"": already}
        self._last: int | None = None

    def part(self, name: str) -> ProgressCallback | None:
        if self._progress is None:
            return None

        async def report(done: int, _total: int) -> None:
            self._done[name] = done
            await self._emit()

        return report

    async def _emit(self) -> None:
        if self._progress is None:
            return
        done = min(sum(self._done.values()), self._total)
        if done == self._last:
            return
        self._last = done
        outcome = self._progress(done, self._total)
        if inspect.isawaitable(outcome):
            await outcome

    async def finish(self) -> None:
        """Report ``(total, total)`` once everything (local refusals included) is settled."""
        if self._progress is not None and self._total:
            self._done = {"*": self._total}
            await self._emit()


async def call_progress(progress: ProgressCallback | None, done: int, total: int) -> None:
    if progress is None:
        return
    outcome = progress(done, total)
    if inspect.isawaitable(outcome):
        await outcome


class Tally:
    """Counts settled items of one delivery and reports ``(done, total)``, each value once, in order."""

    def __init__(self, progress: ProgressCallback | None, total: int, done: int = 0) -> None:
        self._progress = progress
        self.total = total
        self.done = done
        self._reported = -1

    async def add(self, count: int) -> None:
        self.done = min(self.done + count, self.total)
        await self._report()

    async def finish(self) -> None:
        self.done = self.total
        await self._report()

    async def _report(self) -> None:
        if self._progress is None or not self.total or self.done == self._reported:
            return
        self._reported = self.done
        await call_progress(self._progress, self.done, self.total)
