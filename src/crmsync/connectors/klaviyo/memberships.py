"""Per-store list membership of profiles: "the per-store list holds the store's customers".

With ``SegmentationRules.store_lists`` the mapping puts the names of the customer's store lists in
the reserved payload key ``$lists`` (:data:`crmsync.mapping.segments.LISTS`), and the engine hands
over the payload delivered last time as ``Projection.previous``. After the profile itself was
written and its id is known, :class:`ListMemberships`:

* joins every list named now — find-or-create by name (:meth:`KlaviyoLists.ensure_list`, cached), then
  ``POST /api/lists/{id}/relationships/profiles`` — the lists not named last time (all of them on a
  first delivery): an unchanged membership costs no call. A failed join leaves the record's
  delivered state as it was, so the retry names the list as new again;
* leaves the lists named in ``previous["$lists"]`` and not now — ``DELETE`` on the same path. A list
  to leave is looked up, never created (:meth:`KlaviyoLists.lookup_list`): a missing list holds
  nobody.

Membership is not consent: only the list-membership endpoints are used, never (un)subscribe, so
joining a store list neither opts anyone in nor out, and leaving one keeps their consent.

Leaving comes before joining, so when two records share one Klaviyo profile (linked by e-mail) and
one leaves a list the other joins, the profile stays a member.

Batches (:meth:`ListMemberships.bulk`): records whose only membership work is joining one list —
an initial load, a customer's first store — are imported in jobs carrying that list (the job's
``relationships.lists``), so Klaviyo places them itself: no profile ids read, no membership call.
The others (moves between stores, several stores) are grouped by list name after their jobs and
sent 1,000 profile ids per call, never one call per profile; leaving needs the profile ids, which
the bulk importer then reads from the finished job (:class:`~crmsync.connectors.klaviyo.bulk.BulkImporter`,
``want_ids``).

Failures: a failed membership call makes the delivery of the records it was for not ok, with that
error (a retryable one stays retryable, so the engine sends the record again; re-adding and
re-removing are harmless). The profile write itself stands. A failure for one list, or for one chunk
of a list, never fails records that do not need that list or chunk. A 404 means the cached list was
deleted in Klaviyo meanwhile: its id is forgotten and the failure is retryable, not permanent.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from crmsync.connectors.klaviyo.batching import ProgressSplit
from crmsync.connectors.klaviyo.lists import KlaviyoLists, Origin
from crmsync.errors import CrmsyncError, NotFoundError, TransientError
from crmsync.ports import LISTS, DeliveryResult, ProgressCallback, Projection

__all__ = ["LISTS", "BulkRun", "ListMemberships", "list_names", "needs_membership", "single_join"]


class BulkRun(Protocol):
    """The profile bulk importer's ``run``: import items, optionally into one list."""

    def __call__(
        self, items: list[Projection], progress: ProgressCallback | None = None, *, list_id: str | None = None
    ) -> Awaitable[list[DeliveryResult]]: ...


def list_names(payload: Mapping[str, Any] | None) -> list[str]:
    """The list names a payload's ``$lists`` holds, in order, without repeats (none: ``[]``)."""
    value = (payload or {}).get(LISTS)
    if not isinstance(value, list):
        return []
    return list(dict.fromkeys(name for name in value if isinstance(name, str)))


def single_join(item: Projection) -> str | None:
    """The one list ``item`` joins when that is all its membership work (nothing to leave)."""
    now, before = list_names(item.payload), list_names(item.previous)
    join = [name for name in now if item.previous is None or name not in before]
    leave = [name for name in before if name not in now]
    return join[0] if len(join) == 1 and not leave else None


def needs_membership(item: Projection) -> bool:
    """Whether delivering ``item`` involves list membership (a list to join or one to leave)."""
    return bool(list_names(item.payload) or list_names(item.previous))


@dataclasses.dataclass
class _Batch:
    """The membership work of one :meth:`ListMemberships.apply` call and what came of it."""

    items: Sequence[Projection]
    profile_ids: dict[int, str] = dataclasses.field(default_factory=dict)  # index -> Klaviyo profile id
    errors: dict[int, CrmsyncError] = dataclasses.field(default_factory=dict)  # first failure per index
    calls: dict[int, int] = dataclasses.field(default_factory=dict)  # membership writes per index

    def fail(self, index: int, error: CrmsyncError, note: str) -> None:
        if index not in self.errors:
            self.errors[index] = _own(error, self.items[index], note)


class ListMemberships:
    """Joins and leaves the ``$lists`` of delivered profiles (see the module docstring)."""

    def __init__(self, lists: KlaviyoLists, *, connection: str) -> None:
        self._lists = lists
        self._connection = connection

    async def bulk(
        self, items: list[Projection], progress: ProgressCallback | None, run: BulkRun
    ) -> list[DeliveryResult]:
        """Bulk import ``items`` with ``run`` (the profile bulk importer) and their memberships.

        Items whose only membership work is joining one list (an initial load, a customer's first
        store) are imported in jobs that carry that list (``relationships.lists``): Klaviyo adds the
        job's profiles itself, so no profile ids are read and no membership call is made. The rest
        go through :meth:`apply` after their jobs. Groups run one after another (each is a few jobs
        at a time), within the bulk endpoints' shared budget.
        """
        groups: dict[str, list[int]] = {}
        rest: list[int] = []
        for index, item in enumerate(items):
            name = single_join(item)
            if name is None:
                rest.append(index)
            else:
                groups.setdefault(name, []).append(index)
        if not groups:
            return await self.apply(items, await run(items, progress))
        split = ProgressSplit(progress, len(items))
        results: dict[int, DeliveryResult] = {}
        for n, (name, indexes) in enumerate(groups.items()):
            try:
                list_id = await self._lists.ensure_list(name)
            except CrmsyncError as exc:
                for i in indexes:
                    error = _own(exc, items[i], f"klaviyo list {name!r}")
                    results[i] = DeliveryResult(items[i].record_key, ok=False, error=error, calls=0)
                continue
            done = await run([items[i] for i in indexes], split.part(f"list-{n}"), list_id=list_id)
            results.update(zip(indexes, done, strict=True))
        if rest:
            subset = [items[i] for i in rest]
            done = await self.apply(subset, await run(subset, split.part("rest")))
            results.update(zip(rest, done, strict=True))
        await split.finish()
        return [results[i] for i in range(len(items))]

    async def apply(
        self, items: Sequence[Projection], results: Sequence[DeliveryResult]
    ) -> list[DeliveryResult]:
        """The results of the profile writes of ``items``, updated with their list memberships.

        Only records whose profile write succeeded are considered; one without a profile id (the
        target did not report it) cannot be placed in a list and comes back as a transient failure.
        """
        batch = _Batch(items)
        joins: dict[str, list[int]] = {}
        leaves: dict[str, list[int]] = {}
        for index, (item, result) in enumerate(zip(items, results, strict=True)):
            now, before = list_names(item.payload), list_names(item.previous)
            join = [name for name in now if name not in before or item.previous is None]
            leave = [name for name in before if name not in now]
            if not result.ok or not (join or leave):
                continue
            if not result.target_id:
                unknown = TransientError(
                    "the profile id is unknown, so its list membership was not written",
                    connection=self._connection,
                    entity="profile",
                )
                batch.fail(index, unknown, "klaviyo list membership")
                continue
            batch.profile_ids[index] = result.target_id
            for name in leave:
                leaves.setdefault(name, []).append(index)
            for name in join:
                joins.setdefault(name, []).append(index)
        for name, indexes in leaves.items():
            await self._one_list(batch, name, indexes, join=False)
        for name, indexes in joins.items():
            await self._one_list(batch, name, indexes, join=True)
        out: list[DeliveryResult] = []
        for index, result in enumerate(results):
            calls = result.calls + batch.calls.get(index, 0)
            error = batch.errors.get(index)
            if error is None:
                out.append(dataclasses.replace(result, calls=calls) if calls != result.calls else result)
            else:
                out.append(dataclasses.replace(result, ok=False, error=error, calls=calls))
        return out

    async def _one_list(self, batch: _Batch, name: str, indexes: list[int], *, join: bool) -> None:
        """Join (or leave) one list with the profiles of ``indexes``; record calls and failures."""
        note = f"klaviyo list {name!r}: {'joining' if join else 'leaving'} failed"
        try:
            list_id = await (self._lists.ensure_list(name) if join else self._lists.lookup_list(name))
        except CrmsyncError as exc:
            for index in indexes:
                batch.fail(index, exc, note)
            return
        if list_id is None:  # leaving a list that does not exist: nobody is in it
            return
        origin = None
        if len(indexes) == 1:  # the call is for one record: name it in the request log
            item = batch.items[indexes[0]]
            origin = Origin(item.record_key, item.correlation_id, item.kind)
        send = self._lists.add_to_list if join else self._lists.remove_from_list
        outcomes = await send(list_id, [batch.profile_ids[i] for i in indexes], origin=origin)
        for index, outcome in zip(indexes, outcomes, strict=True):
            batch.calls[index] = batch.calls.get(index, 0) + outcome.calls
            if not outcome.ok:
                error = outcome.error or TransientError(
                    "list membership failed without a reason", connection=self._connection
                )
                if isinstance(error, NotFoundError):
                    error = self._gone(name, error)
                batch.fail(index, error, note)

    def _gone(self, name: str, error: NotFoundError) -> CrmsyncError:
        """A 404 on a membership call: the cached list was deleted in Klaviyo (or the profile was).

        Not the record's fault and curable: the id is forgotten, so the retry looks the list up (or
        creates it) again, and re-imports the profile before that.
        """
        self._lists.forget(name)
        return TransientError(
            f"{error.message} (the list or profile is gone in Klaviyo; it is looked up again on retry)",
            connection=self._connection,
            entity="profile",
            status=error.status,
        )


def _own(error: CrmsyncError, item: Projection, note: str) -> CrmsyncError:
    """A copy of a shared error for one record: its own key, the list named, the same class and
    recovery (a 429's ``retry_after`` included), so the engine retries or parks it as it should."""
    own = copy.copy(error)
    own.message = f"{note}: {error.message}"
    own.args = (own.message,)
    own.record_key = item.record_key
    own.correlation_id = error.correlation_id or item.correlation_id
    own.entity = error.entity or "profile"
    return own
