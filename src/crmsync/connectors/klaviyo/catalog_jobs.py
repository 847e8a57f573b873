"""One catalog bulk job: submit it, poll it to its end, map its errors back to the members.

Spec (revision 2026-07-15), ``POST /api/catalog-{item,category}-bulk-{create,update,delete}-jobs``
answers 202 with the job (``queued``); ``GET .../{job_id}`` reads it back (``status``: ``queued``,
``processing``, ``complete``, ``cancelled``) with an ``errors`` attribute (``APIJobErrorPayload``:
``code``, ``title``, ``detail``, ``source.pointer``) whose pointers name the failed members,
``/data/attributes/items/data/<n>/...``. Polling starts at ``bulk_poll_interval_seconds`` and slows
down by :data:`POLL_GROWTH` up to :data:`POLL_MAX_INTERVAL`, for at most ``bulk_timeout_seconds``.

Member errors:

* create, code ``conflict`` / "already exists" → the member goes to an update job
  (:attr:`JobOutcome.existing`); the spec names no dedicated code, so the detail is read too;
* delete, ``not_found`` → already gone: ok;
* create/update, ``not_found`` → a category the item names does not exist (yet), or the resource was
  deleted in between: a :class:`~crmsync.errors.TransientError`, so the record is sent again later;
* anything else → permanent: :class:`~crmsync.errors.RecordValidationError` naming the field when the
  pointer names one, else :class:`~crmsync.errors.PermanentError`.

A 400 refusing the whole submission because of one member (pointer into it) fails that member alone
and the job is submitted again without it. Whole-job failures (5xx or 429 once the client's retries
are exhausted, a timeout, a cancelled job, an unreadable status after acceptance) fail the job's
remaining members with a retryable error.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any
from urllib.parse import quote

import orjson

from crmsync.connectors.klaviyo.batching import (
    Batch,
    charge_calls,
    dotted_field,
    error_pointer,
    failed,
    invalid,
    pointer_segments,
    retag,
)
from crmsync.connectors.klaviyo.catalog import ITEM, CatalogKind, catalog_id, external_id
from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.connectors.klaviyo.settings import KlaviyoSettings
from crmsync.errors import CrmsyncError, PermanentError, RecordValidationError, Recovery, TransientError
from crmsync.ports import JSON, DeliveryResult, Projection

log = logging.getLogger(__name__)

#: How often a job refused because of one member is submitted again without it.
MAX_RESUBMITS = 5
POLL_GROWTH = 1.5
POLL_MAX_INTERVAL = 5.0
_DONE = frozenset({"complete", "cancelled", "failed"})


class JobOutcome:
    """Per-member results of catalog jobs, plus the members a create job found already existing."""

    def __init__(self) -> None:
        self.results: dict[int, DeliveryResult] = {}
        self.existing: list[int] = []


class CatalogJobRunner:
    """Runs one packed catalog bulk job to its end; never raises a CrmsyncError."""

    def __init__(self, client: KlaviyoClient, settings: KlaviyoSettings, *, connection: str) -> None:
        self._client = client
        self._settings = settings
        self._connection = connection

    async def run(self, spec: CatalogKind, action: str, batch: Batch, items: list[Projection]) -> JobOutcome:
        outcome = JobOutcome()
        results = outcome.results
        stats = CallStats()
        first_indexes = list(batch.indexes)
        operation = spec.job_op(action)
        response = None
        for _ in range(MAX_RESUBMITS + 1):
            try:
                response = await self._client.request(
                    "POST",
                    spec.job_path(action),
                    body=batch.body(),
                    operation=operation,
                    kind=spec.kind,
                    stats=stats,
                )
            except RecordValidationError as exc:
                position = _member_position(spec, error_pointer(exc), len(batch.parts))
                if position is None:
                    self._fail(batch, items, retag(exc, spec.kind), results)
                    break
                index = batch.indexes[position]
                results[index] = self._member_error(items[index], spec, action, _error_dict(exc), "")
                batch = batch.without(position)
                if not batch.parts:
                    break
                continue
            except CrmsyncError as exc:
                self._fail(batch, items, retag(exc, spec.kind), results)
                break
            break
        else:
            self._fail(
                batch,
                items,
                self._transient(spec, f"creation refused a member {MAX_RESUBMITS + 1} times"),
                results,
            )
        if response is not None:
            await self._follow(spec, action, batch, items, response.body or {}, outcome)
        charge_calls(results, first_indexes, stats.attempts)
        return outcome

    async def _follow(
        self,
        spec: CatalogKind,
        action: str,
        batch: Batch,
        items: list[Projection],
        body: JSON,
        outcome: JobOutcome,
    ) -> None:
        """Poll an accepted job to its end and map its errors back to the members."""
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        job_id = data.get("id") if isinstance(data, dict) else None
        if not job_id:
            self._fail(
                batch, items, self._transient(spec, "creation answered without a job id"), outcome.results
            )
            return
        try:
            state = await self._wait(spec, action, str(job_id))
        except CrmsyncError as exc:
            self._fail(batch, items, self._outcome_unknown(spec, action, str(job_id), exc), outcome.results)
            return
        unmapped = 0
        for error in state.get("errors") or []:
            if not isinstance(error, dict):
                continue
            source = error.get("source") if isinstance(error.get("source"), dict) else {}
            pointer = source.get("pointer") if isinstance(source, dict) else None
            position = _member_position(spec, pointer if isinstance(pointer, str) else None, len(batch.parts))
            if position is None:
                unmapped += 1
                continue
            index = batch.indexes[position]
            if action == "create" and _already_exists(error):
                outcome.existing.append(index)
                continue
            outcome.results[index] = self._member_error(items[index], spec, action, error, str(job_id))
        if unmapped:
            log.warning(
                "klaviyo %s job %s: %d error(s) named no member", spec.job_type(action), job_id, unmapped
            )
        status = state.get("status")
        for index in batch.indexes:
            if index in outcome.results or index in outcome.existing:
                continue
            if status != "complete":
                error = self._transient(spec, f"job {job_id} ended {status!r}")
                outcome.results[index] = failed(items[index], error)
                continue
            outcome.results[index] = DeliveryResult(
                items[index].record_key,
                ok=True,
                target_id=catalog_id(external_id(items[index])),
                created={"create": True, "update": False}.get(action),
                calls=0,
            )

    async def _wait(self, spec: CatalogKind, action: str, job_id: str) -> JSON:
        deadline = time.monotonic() + self._settings.bulk_timeout_seconds
        interval = self._settings.bulk_poll_interval_seconds
        ceiling = max(interval, POLL_MAX_INTERVAL)
        path = f"{spec.job_path(action)}/{quote(job_id, safe='')}"
        while True:
            response = await self._client.request(
                "GET", path, operation=spec.job_get_op(action), kind=spec.kind
            )
            data = (response.body or {}).get("data") or {}
            attributes: JSON = data.get("attributes") or {}
            status = attributes.get("status")
            if status in _DONE:
                return attributes
            if time.monotonic() >= deadline:
                raise TransientError(
                    f"klaviyo {spec.job_type(action)} {job_id} did not finish within "
                    f"{self._settings.bulk_timeout_seconds:g}s (last status {status!r})",
                    connection=self._connection,
                    entity=spec.kind,
                )
            await asyncio.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
            interval = min(interval * POLL_GROWTH, ceiling)

    # -- errors -------------------------------------------------------------------------------------
    def _member_error(
        self, item: Projection, spec: CatalogKind, action: str, error: JSON, job_id: str
    ) -> DeliveryResult:
        code = str(error.get("code") or "")
        detail = str(error.get("detail") or error.get("title") or "rejected")
        where = f"klaviyo {spec.job_type(action)}{f' {job_id}' if job_id else ''}"
        if code == "not_found":
            if action == "delete":
                return DeliveryResult(
                    item.record_key, ok=True, target_id=catalog_id(external_id(item)), calls=0
                )
            reason = "a category it names" if spec is ITEM else "it"
            return failed(
                item,
                TransientError(
                    f"{where}: {reason} does not exist (yet); it may be sent again ({detail})",
                    connection=self._connection,
                    entity=item.kind,
                    record_key=item.record_key,
                    correlation_id=item.correlation_id,
                    detail=error,
                ),
            )
        source = error.get("source") if isinstance(error.get("source"), dict) else {}
        pointer = source.get("pointer") if isinstance(source, dict) else None
        fld = _member_field(pointer if isinstance(pointer, str) else None)
        if fld is not None:
            return invalid(
                item,
                f"{where} rejected field {fld!r}: {detail}",
                field=fld,
                connection=self._connection,
                detail=error,
            )
        return failed(
            item,
            PermanentError(
                f"{where} rejected the {spec.type}: {code or 'error'}: {detail}",
                connection=self._connection,
                entity=item.kind,
                record_key=item.record_key,
                correlation_id=item.correlation_id,
                detail=error,
            ),
        )

    def _outcome_unknown(
        self, spec: CatalogKind, action: str, job_id: str, error: CrmsyncError
    ) -> CrmsyncError:
        """Once a job was accepted, a failing status read says nothing against its members: retry them."""
        if error.recovery in (Recovery.FATAL, Recovery.RETRY, Recovery.RETRY_AFTER):
            return retag(error, spec.kind)
        return TransientError(
            f"klaviyo {spec.job_type(action)} {job_id}: outcome unknown, "
            f"its members may be sent again ({error.message})",
            connection=self._connection,
            entity=spec.kind,
            status=error.status,
        )

    def _transient(self, spec: CatalogKind, reason: str) -> TransientError:
        return TransientError(
            f"klaviyo catalog bulk job ({spec.type}): {reason}; its members may be sent again",
            connection=self._connection,
            entity=spec.kind,
        )

    @staticmethod
    def _fail(
        batch: Batch, items: list[Projection], error: CrmsyncError, results: dict[int, DeliveryResult]
    ) -> None:
        for index in batch.indexes:
            results.setdefault(index, failed(items[index], error))


def envelope(spec: CatalogKind, action: str) -> tuple[bytes, bytes]:
    """The job body around its members: ``{"data":{"type":...,"attributes":{"items":{"data":[`` …"""
    head = {"type": spec.job_type(action), "attributes": {spec.container: {"data": []}}}
    raw = orjson.dumps({"data": head})
    cut = raw.index(b"[]") + 1
    return raw[:cut], raw[cut:]


def _member_position(spec: CatalogKind, pointer: str | None, count: int) -> int | None:
    match = re.match(rf"^/data/attributes/{spec.container}/data/(\d+)(?:/|$)", pointer or "")
    if match is None or int(match.group(1)) >= count:
        return None
    return int(match.group(1))


def _member_field(pointer: str | None) -> str | None:
    """``/data/attributes/items/data/3/attributes/price`` → ``"price"``; relationships → ``"categories"``."""
    rest = pointer_segments(pointer)[5:]
    if rest[:1] == ["relationships"]:
        rest = rest[1:]
    return dotted_field(rest)


def _already_exists(error: JSON) -> bool:
    text = f"{error.get('detail') or ''} {error.get('title') or ''}".lower()
    return error.get("code") == "conflict" or "already exist" in text


def _error_dict(exc: CrmsyncError) -> dict[str, Any]:
    detail = exc.detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return dict(detail[0])
    return {"code": "invalid", "detail": exc.message}
