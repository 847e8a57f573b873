"""Catalog items and categories in bulk: the catalog bulk create / update / delete jobs.

Spec (revision 2026-07-15), each ``POST /api/catalog-{item,category}-bulk-{create,update,delete}-jobs``:
"Accepts up to 100 catalog items per request. The maximum allowed payload size is 5MB. The maximum
number of jobs in progress at one time is 500." Members are packed by count (100) and by measured
bytes (5,000,000, below both readings of "5MB"); a member that alone would not fit is refused
locally. Each job is run by :class:`~crmsync.connectors.klaviyo.catalog_jobs.CatalogJobRunner`.

Upsert: categories first (items name them), then items. Each kind goes through create jobs; members
that already exist go through update jobs with the same body as the single-record PATCH (absent
attributes cleared, categories replaced; :mod:`crmsync.connectors.klaviyo.catalog`), so ``created`` is
True for the first and False for the second. Delete: delete jobs, items first, then categories.

At most :data:`JOB_CONCURRENCY` jobs of one call are in progress at once, far below the account's 500;
should other senders fill those up, the 429 Klaviyo answers is retried by the client after its
``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson

from crmsync.connectors.klaviyo.batching import Batch, Tally, invalid, pack
from crmsync.connectors.klaviyo.catalog import (
    CATEGORY,
    ITEM,
    CatalogKind,
    check_catalog,
    create_resource,
    delete_resource,
    update_resource,
)
from crmsync.connectors.klaviyo.catalog_jobs import CatalogJobRunner, JobOutcome, envelope
from crmsync.connectors.klaviyo.client import KlaviyoClient
from crmsync.connectors.klaviyo.settings import KlaviyoSettings
from crmsync.ports import JSON, DeliveryResult, ProgressCallback, Projection

MAX_MEMBERS = 100
MAX_BYTES = 5_000_000
#: Jobs of one call in progress at once (catalog bulk writes allow 75/s and 750/min per account).
JOB_CONCURRENCY = 5

Build = Callable[[Projection], JSON]


class CatalogBulk:
    """Runs the catalog bulk jobs of one ``bulk_upsert`` / ``bulk_delete`` call."""

    def __init__(self, client: KlaviyoClient, settings: KlaviyoSettings, *, connection: str) -> None:
        self._connection = connection
        self._runner = CatalogJobRunner(client, settings, connection=connection)

    async def upsert(
        self, items: list[Projection], progress: ProgressCallback | None = None
    ) -> list[DeliveryResult]:
        results: dict[int, DeliveryResult] = {}
        for index, item in enumerate(items):
            refused = check_catalog(item, self._connection)
            if refused is not None:
                results[index] = refused
        tally = Tally(progress, len(items), len(results))
        for spec in (CATEGORY, ITEM):
            indexes = [i for i, item in enumerate(items) if item.kind == spec.kind and i not in results]
            created = await self._jobs(spec, "create", indexes, items, create_resource, tally)
            results.update(created.results)
            updated = await self._jobs(spec, "update", created.existing, items, update_resource, tally)
            results.update(updated.results)
        await tally.finish()
        return [results[i] for i in range(len(items))]

    async def delete(
        self, items: list[Projection], progress: ProgressCallback | None = None
    ) -> list[DeliveryResult]:
        results: dict[int, DeliveryResult] = {}
        tally = Tally(progress, len(items))
        for spec in (ITEM, CATEGORY):
            indexes = [i for i, item in enumerate(items) if item.kind == spec.kind]
            results.update((await self._jobs(spec, "delete", indexes, items, delete_resource, tally)).results)
        await tally.finish()
        return [results[i] for i in range(len(items))]

    # -- jobs of one action ---------------------------------------------------------------------
    async def _jobs(
        self,
        spec: CatalogKind,
        action: str,
        indexes: list[int],
        items: list[Projection],
        build: Build,
        tally: Tally,
    ) -> JobOutcome:
        outcome = JobOutcome()
        members: list[tuple[int, bytes]] = []
        for index in indexes:
            try:
                part = orjson.dumps(build(items[index]))
            except (TypeError, orjson.JSONEncodeError) as exc:
                outcome.results[index] = self._local(
                    items[index], f"payload is not serializable to JSON: {exc}"
                )
                continue
            prefix, suffix = envelope(spec, action)
            if len(prefix) + len(suffix) + len(part) > MAX_BYTES:
                outcome.results[index] = self._local(
                    items[index],
                    f"{len(part)} bytes serialized; a catalog bulk job takes at most {MAX_BYTES} bytes",
                )
                continue
            members.append((index, part))
        prefix, suffix = envelope(spec, action)
        batches = pack(members, prefix, suffix, max_records=MAX_MEMBERS, max_bytes=MAX_BYTES)
        await tally.add(len(outcome.results))  # refused locally
        gate = asyncio.Semaphore(JOB_CONCURRENCY)

        async def one(batch: Batch) -> JobOutcome:
            async with gate:
                done = await self._runner.run(spec, action, batch, items)
            await tally.add(len(batch.indexes) - len(done.existing))
            return done

        tasks = [asyncio.create_task(one(b)) for b in batches]
        try:
            for done in await asyncio.gather(*tasks):
                outcome.results.update(done.results)
                outcome.existing.extend(done.existing)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return outcome

    def _local(self, item: Projection, reason: str) -> DeliveryResult:
        return invalid(item, f"klaviyo catalog bulk job: {reason}", field=None, connection=self._connection)
