"""Klaviyo lists: find-or-create by name, and add or remove profiles as members.

* :meth:`KlaviyoLists.ensure_list` reads ``GET /api/lists?filter=equals(name,"...")&sort=created``
  (get_lists; the oldest list wins when several share the name — Klaviyo does not keep names
  unique) and creates the list with ``POST /api/lists`` (create_list) only when none exists. The id
  is cached per name and concurrent calls for one name share one lookup, because list creation is
  limited to 150 a day per account (spec ``x-klaviyo-ratelimit`` of create_list: ``daily: 150/d``).
* :meth:`KlaviyoLists.add_to_list` sends ``POST /api/lists/{id}/relationships/profiles``
  (add_profiles_to_list, ``ListMembersAddQuery``) in chunks of 1,000 ids — "This endpoint accepts a
  maximum of 1000 profiles per call" — and answers 204. Membership only: it does not change consent
  (use bulk subscribe for that).
* :meth:`KlaviyoLists.remove_from_list` sends ``DELETE /api/lists/{id}/relationships/profiles``
  (remove_profiles_from_list, ``ListMembersDeleteQuery``: the same body, the same 1,000 per call,
  204); it leaves consent as it is. :meth:`KlaviyoLists.lookup_list` finds a list to leave without
  ever creating one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from crmsync.connectors.klaviyo.client import CallStats, KlaviyoClient
from crmsync.errors import CrmsyncError, PermanentError
from crmsync.ports import DeliveryResult

LISTS_PATH = "/api/lists"
MAX_MEMBERS_PER_CALL = 1000


@dataclass(frozen=True)
class Origin:
    """Whom a membership request is for, for the request log (one record's delivery), if anyone."""

    record_key: str | None = None
    correlation_id: str | None = None
    kind: str | None = None


def filter_literal(value: str) -> str:
    """A Klaviyo filter string literal: double-quoted, ``\\`` and ``"`` backslash-escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class KlaviyoLists:
    def __init__(self, client: KlaviyoClient, *, connection: str = "klaviyo") -> None:
        self._client = client
        self._connection = connection
        self._ids: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def find_list(self, name: str) -> str | None:
        """The id of the oldest list called exactly ``name``, or None."""
        response = await self._client.request(
            "GET",
            LISTS_PATH,
            params={
                "filter": f"equals(name,{filter_literal(name)})",
                "sort": "created",
                "page[size]": "1",
                "fields[list]": "name",
            },
            operation="get_lists",
        )
        data = (response.body or {}).get("data") or []
        if data and isinstance(data[0], dict) and data[0].get("id"):
            return str(data[0]["id"])
        return None

    async def ensure_list(self, name: str) -> str:
        """The id of the list called ``name``, created when missing. Raises CrmsyncError on failure."""
        if not name.strip():
            raise PermanentError("klaviyo list name must not be empty", connection=self._connection)
        cached = self._ids.get(name)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            cached = self._ids.get(name)
            if cached is not None:
                return cached
            found = await self.find_list(name)
            if found is None:
                response = await self._client.request(
                    "POST",
                    LISTS_PATH,
                    body={"data": {"type": "list", "attributes": {"name": name}}},
                    operation="create_list",
                )
                data = (response.body or {}).get("data") or {}
                found = str(data.get("id") or "") or None
                if found is None:
                    raise PermanentError(
                        "klaviyo create_list answered without a list id", connection=self._connection
                    )
            self._ids[name] = found
            return found

    async def lookup_list(self, name: str) -> str | None:
        """The id of the list called ``name`` without creating it (None when there is none).

        For leaving a list: a list that does not exist holds nobody, so there is nothing to leave and
        no reason to spend one of the 150 daily creations on it. Found ids share the cache of
        :meth:`ensure_list`; a miss is not cached (the list may be created later).
        """
        cached = self._ids.get(name)
        if cached is not None or not name.strip():
            return cached
        async with self._locks.setdefault(name, asyncio.Lock()):
            cached = self._ids.get(name)
            if cached is None:
                cached = await self.find_list(name)
                if cached is not None:
                    self._ids[name] = cached
            return cached

    def forget(self, name: str) -> None:
        """Drop the cached id of ``name`` (the list was deleted in Klaviyo): looked up again next time."""
        self._ids.pop(name, None)

    async def add_to_list(
        self, list_id: str, profile_ids: Sequence[str], *, origin: Origin | None = None
    ) -> list[DeliveryResult]:
        """Add profiles to a list; one result per id (``record_key`` = the profile id)."""
        return await self._members("POST", "add_profiles_to_list", list_id, profile_ids, origin)

    async def remove_from_list(
        self, list_id: str, profile_ids: Sequence[str], *, origin: Origin | None = None
    ) -> list[DeliveryResult]:
        """Remove profiles from a list (``DELETE``, remove_profiles_from_list, ``ListMembersDeleteQuery``);
        one result per id. Removing a profile that is not a member is not an error; consent stays."""
        return await self._members("DELETE", "remove_profiles_from_list", list_id, profile_ids, origin)

    async def _members(
        self,
        method: str,
        operation: str,
        list_id: str,
        profile_ids: Sequence[str],
        origin: Origin | None,
    ) -> list[DeliveryResult]:
        """Send ``{"data": [{"type": "profile", "id": ...}]}`` in chunks of 1,000 distinct ids.

        A failed chunk fails its ids only; a repeated id is sent once and its repeats cost nothing.
        """
        results: dict[str, DeliveryResult] = {}
        unique = list(dict.fromkeys(profile_ids))
        path = f"{LISTS_PATH}/{quote(list_id, safe='')}/relationships/profiles"
        where = origin or Origin()
        for start in range(0, len(unique), MAX_MEMBERS_PER_CALL):
            chunk = unique[start : start + MAX_MEMBERS_PER_CALL]
            stats = CallStats()
            body = {"data": [{"type": "profile", "id": pid} for pid in chunk]}
            error: CrmsyncError | None = None
            try:
                await self._client.request(
                    method,
                    path,
                    body=body,
                    operation=operation,
                    stats=stats,
                    record_key=where.record_key,
                    correlation_id=where.correlation_id,
                    kind=where.kind,
                )
            except CrmsyncError as exc:
                error = exc
            for position, pid in enumerate(chunk):
                results[pid] = DeliveryResult(
                    pid,
                    ok=error is None,
                    target_id=pid if error is None else None,
                    error=error,
                    calls=stats.attempts if position == 0 else 0,
                )
        seen: set[str] = set()
        out: list[DeliveryResult] = []
        for pid in profile_ids:
            result = results[pid]
            if pid in seen:  # a repeated id costs nothing more
                result = DeliveryResult(pid, result.ok, result.target_id, None, result.error, calls=0)
            seen.add(pid)
            out.append(result)
        return out
