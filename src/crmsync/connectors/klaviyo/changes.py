"""Polling Klaviyo for profiles changed on its side (consent, suppressions, attributes).

Klaviyo has no change feed for profiles; the documented way to read changes is ``GET /api/profiles``
with ``filter=greater-than(updated,<date-time>)`` and ``sort=updated`` (spec: ``updated`` allows
``greater-than`` and ``less-than`` only), asking for ``additional-fields[profile]=subscriptions`` so
that consent comes along. Two properties of that API shape the cursor:

* ``updated`` has whole-second resolution and there is no ``greater-or-equal``: a cursor holding
  only "the last ``updated`` seen" would either skip profiles changed later in that same second
  (``greater-than(updated, T)``) or return the last ones forever;
* a change may become visible a little after its ``updated`` instant (Klaviyo processes writes
  asynchronously), so a profile can appear "in the past" of a cursor that already moved on.

The cursor therefore keeps the high-water mark ``T`` plus a fingerprint of every profile seen with
``updated >= T - overlap``; each poll asks for ``updated > T - overlap - 1 s`` (i.e. ``>= T -
overlap`` at second resolution) and drops the profiles whose fingerprint it already has. A profile
changed twice within one second has a different fingerprint the second time and is returned again;
one seen before is never returned twice. The fingerprint is a digest of the profile's attributes
(``updated`` and ``subscriptions`` included). Deleted profiles are not reported (they vanish).

A poll follows ``links.next`` until it has at least ``page_size`` new profiles or the pages run
out, so a second with more than a page of already-seen profiles cannot stall it. The cursor is an
opaque string (compact JSON); ``None`` starts from the beginning, :meth:`KlaviyoChanges.cursor_at`
from a given instant. Request failures raise the client's :class:`~crmsync.errors.CrmsyncError`
(after its retries); the caller keeps its old cursor and polls again later.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from yarl import URL

from crmsync.connectors.klaviyo.client import KlaviyoClient
from crmsync.errors import PermanentError
from crmsync.ports import JSON

PROFILES_PATH = "/api/profiles"
MAX_PAGE_SIZE = 100  # get_profiles: "page[size] ... Max: 100"
CURSOR_VERSION = 1


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _stamp(moment: datetime) -> str:
    """A bare filter date-time as Klaviyo documents it: ``2023-04-19T00:00:00Z``."""
    return _utc(moment).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(attributes: Any) -> str:
    return hashlib.sha256(orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class _Cursor:
    """High-water mark plus ``{instant: {profile id: fingerprint}}`` for the overlap window."""

    def __init__(
        self, high: datetime | None, seen: dict[str, dict[str, str]], floor: datetime | None = None
    ) -> None:
        self.high = high
        self.seen = seen
        self.floor = floor  # cursor_at: nothing before this instant
        self.by_id = {pid: (instant, digest) for instant, ids in seen.items() for pid, digest in ids.items()}

    @classmethod
    def load(cls, raw: str | None, connection: str) -> _Cursor:
        if raw is None:
            return cls(None, {})
        try:
            doc = json.loads(raw)
            high = parse_time(doc["updated"]) if doc.get("updated") else None
            floor = parse_time(doc["from"]) if doc.get("from") else None
            seen = {str(k): {str(p): str(d) for p, d in v.items()} for k, v in doc.get("seen", {}).items()}
            if doc.get("v") != CURSOR_VERSION or (doc.get("updated") and high is None):
                raise ValueError("unknown cursor version or instant")
            if doc.get("from") and floor is None:
                raise ValueError("invalid start instant")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PermanentError(
                f"klaviyo profile change cursor is not valid ({exc})", connection=connection
            ) from None
        return cls(high, seen, floor)

    def dump(self) -> str:
        doc: dict[str, Any] = {"v": CURSOR_VERSION, "updated": self.high.isoformat() if self.high else None}
        if self.floor is not None:
            doc["from"] = self.floor.isoformat()
        doc["seen"] = self.seen
        return json.dumps(doc, separators=(",", ":"), sort_keys=True)

    def lower_bound(self, overlap: timedelta) -> datetime | None:
        """The earliest ``updated`` the next poll must see."""
        lower = self.high - overlap if self.high is not None else None
        if self.floor is not None:
            lower = self.floor if lower is None else max(lower, self.floor)
        return lower

    def is_new(self, profile_id: str, digest: str) -> bool:
        known = self.by_id.get(profile_id)
        return known is None or known[1] != digest

    def remember(self, profile_id: str, instant: datetime, digest: str) -> None:
        old = self.by_id.get(profile_id)
        if old is not None:
            self.seen.get(old[0], {}).pop(profile_id, None)
        key = instant.isoformat()
        self.seen.setdefault(key, {})[profile_id] = digest
        self.by_id[profile_id] = (key, digest)
        if self.high is None or instant > self.high:
            self.high = instant

    def prune(self, overlap: timedelta) -> None:
        if self.high is None:
            return
        floor = self.high - overlap
        self.seen = {k: v for k, v in self.seen.items() if v and (parse_time(k) or floor) >= floor}


class KlaviyoChanges:
    """Reads profiles updated in Klaviyo since a cursor (see the module docstring)."""

    def __init__(
        self, client: KlaviyoClient, *, connection: str = "klaviyo", overlap_seconds: float = 1.0
    ) -> None:
        self._client = client
        self._connection = connection
        self._overlap = timedelta(seconds=max(overlap_seconds, 0.0))

    @staticmethod
    def cursor_at(moment: datetime) -> str:
        """A cursor that returns the profiles updated at or after ``moment``."""
        return _Cursor(None, {}, _utc(moment)).dump()

    async def profiles_updated_since(
        self, cursor: str | None, page_size: int = 100
    ) -> tuple[list[JSON], str]:
        """``(profiles, new cursor)``: profiles (``{"type", "id", "attributes"}`` with ``external_id``,
        ``email``, ``subscriptions``, ``updated`` ...) changed since ``cursor``, oldest change first."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        state = _Cursor.load(cursor, self._connection)
        params = {
            "sort": "updated",
            "page[size]": str(page_size),
            "additional-fields[profile]": "subscriptions",
        }
        lower = state.lower_bound(self._overlap)
        if lower is not None:
            # greater-than at whole seconds: one second earlier means "at or after ``lower``"
            since = lower.replace(microsecond=0) - timedelta(seconds=1)
            params["filter"] = f"greater-than(updated,{_stamp(since)})"
        found: list[JSON] = []
        seen_cursors: set[str] = set()
        while True:
            response = await self._client.request(
                "GET", PROFILES_PATH, params=params, operation="get_profiles"
            )
            body = response.body or {}
            for resource in body.get("data") or []:
                if not isinstance(resource, dict) or not resource.get("id"):
                    continue
                attributes = resource.get("attributes") or {}
                instant = parse_time(attributes.get("updated"))
                if instant is None:
                    continue
                profile_id = str(resource["id"])
                digest = fingerprint(attributes)
                if state.is_new(profile_id, digest):
                    found.append({"type": "profile", "id": profile_id, "attributes": attributes})
                state.remember(profile_id, instant, digest)
            next_cursor = _next_cursor(body)
            if len(found) >= page_size or next_cursor is None or next_cursor in seen_cursors:
                break
            seen_cursors.add(next_cursor)
            params = {**params, "page[cursor]": next_cursor}
        state.prune(self._overlap)
        return found, state.dump()


def _next_cursor(body: JSON) -> str | None:
    """The ``page[cursor]`` of ``links.next`` (the link's host is ignored: requests stay on ours)."""
    links = body.get("links") or {}
    link = links.get("next") if isinstance(links, dict) else None
    if not link:
        return None
    return URL(str(link)).query.get("page[cursor]") or None


#: attributes Klaviyo computes or keeps apart: never part of what a flow delivers or reads back
_COMPUTED = ("id", "created", "updated", "last_event_date", "subscriptions", "predictive_analytics")


def profile_change(profile: JSON, channels: dict[str, tuple[str, str]]) -> JSON:
    """One polled profile as a :class:`~crmsync.ports.ProfileChangeSource` change: its writable
    attributes (the shape profile projections are delivered in), consent per canonical channel
    (``channels``: channel -> (group, kind) in ``subscriptions``) and its ``updated`` time."""
    attrs = profile.get("attributes") or {}
    subs = attrs.get("subscriptions") or {}
    consent: dict[str, str] = {}
    consent_at: dict[str, str] = {}
    for channel, (group, kind) in channels.items():
        doc = (subs.get(group) or {}).get(kind) or {}
        state = doc.get("consent")
        if state in ("SUBSCRIBED", "UNSUBSCRIBED"):
            consent[channel] = state.lower()
            # when the person gave or withdrew it: consent_timestamp, else when Klaviyo last changed it
            at = doc.get("consent_timestamp") or doc.get("last_updated")
            if isinstance(at, str) and at:
                consent_at[channel] = at
    return {
        "external_id": attrs.get("external_id"),
        "email": attrs.get("email"),
        "target_id": profile.get("id"),
        "updated": parse_time(attrs.get("updated")),
        "attributes": {k: v for k, v in attrs.items() if k not in _COMPUTED},
        "consent": consent,
        "consent_at": consent_at,
    }
