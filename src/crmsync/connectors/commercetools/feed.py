"""The change feed: polling the Messages API with an overlapping window and id de-duplication.

Why the window overlaps: commercetools writes messages asynchronously, so a message can become
visible after a later one was already read. Each poll therefore starts ``poll_overlap_seconds``
before the last ``createdAt`` it returned and drops the ids it already returned (kept, bounded,
in the cursor). Duplicates beyond that bound are possible and harmless (the engine's inbox is
unique per event id); misses are not, so the window never moves past what was actually read.

Why keyset paging inside the window, not ``offset``: ``offset`` is capped at 10 000 and shifts
when messages appear mid-read. Each page asks for ``createdAt >= <last createdAt read>`` (sorted
``createdAt asc, id asc``) and skips ids already read in this poll; when one timestamp alone
fills a page, the page after it drains that timestamp with ``createdAt = T and id > <last id>``.
Every predicate is a plain AND of comparisons, so progress never depends on ``or`` support.

The same windowed reader serves any collection with a timestamp to page on (:class:`WindowSource`):
:mod:`.catalog` scans categories and product projections by ``lastModifiedAt`` with it, for the
changes that write no Message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crmsync.connectors.commercetools.client import CommercetoolsClient
from crmsync.connectors.commercetools.events import KIND_TYPE_IDS, message_to_event
from crmsync.errors import ConfigError, IngressError, PermanentError
from crmsync.ports import ChangeEvent

log = logging.getLogger(__name__)

RECENT_IDS_LIMIT = 20_000  # ids kept in the cursor; must exceed the messages of one overlap window
MAX_LIMIT = 500


def format_timestamp(value: datetime) -> str:
    """The API's own timestamp format: UTC, milliseconds, ``Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def quote_literal(value: str) -> str:
    """A string literal of the commercetools query predicate language."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_cursor_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ConfigError(f"change-feed cursor field '{name}' must be an ISO 8601 string", path=name)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"change-feed cursor field '{name}' is not ISO 8601: {value[:40]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class FeedCursor:
    """``{"last_created_at": iso, "recent_ids": [...]}`` — what the engine stores between polls."""

    last_created_at: datetime
    recent_ids: list[str]
    window_start: datetime
    # A pinned start (``{"since": ...}``, e.g. the start of a full read): the overlap window never
    # reaches before it — what was created earlier was covered by that read.
    not_before: datetime | None = None

    @classmethod
    def load(cls, cursor: Mapping[str, Any] | None, *, now: datetime, overlap: timedelta) -> FeedCursor:
        """No cursor: start at ``now - overlap``. ``{"since": iso}``: start exactly there."""
        if not cursor:
            return cls(last_created_at=now, recent_ids=[], window_start=now - overlap)
        if "last_created_at" not in cursor and "since" in cursor:
            since = _parse_cursor_time(cursor["since"], "since")
            return cls(last_created_at=since, recent_ids=[], window_start=since, not_before=since)
        last = _parse_cursor_time(cursor.get("last_created_at"), "last_created_at")
        recent = cursor.get("recent_ids", [])
        if not isinstance(recent, list) or not all(isinstance(i, str) for i in recent):
            raise ConfigError("change-feed cursor field 'recent_ids' must be a list of strings")
        floor = cursor.get("not_before")
        not_before = _parse_cursor_time(floor, "not_before") if floor is not None else None
        start = last - overlap if not_before is None else max(last - overlap, not_before)
        return cls(last_created_at=last, recent_ids=recent, window_start=start, not_before=not_before)


@dataclass
class _Seen:
    created_at: datetime  # the window's timestamp field (``createdAt`` of messages)
    message_id: str  # the de-duplication key (the message id)


def _message_key(item: Mapping[str, Any]) -> str | None:
    key = item.get("id")
    return key if isinstance(key, str) else None


@dataclass(frozen=True)
class WindowSource:
    """One collection read in an overlapping time window, sorted ``<time_field> asc, id asc``.

    ``key`` gives each item's de-duplication id (kept in the cursor's ``recent_ids``), ``to_event``
    turns an item into a change event (None: acknowledged, ignored; IngressError: skipped, logged).
    """

    path: str
    time_field: str
    to_event: Callable[[Mapping[str, Any]], ChangeEvent | None]
    key: Callable[[Mapping[str, Any]], str | None] = _message_key
    params: tuple[tuple[str, str], ...] = field(default=())


MESSAGES = WindowSource("messages", "createdAt", message_to_event)


class MessageFeed:
    """Reads messages for :meth:`CommercetoolsConnector.poll_changes` (and, through :meth:`window`,
    any other :class:`WindowSource`)."""

    def __init__(
        self,
        client: CommercetoolsClient,
        *,
        overlap_seconds: float,
        page_size: int,
        max_events: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._overlap = timedelta(seconds=overlap_seconds)
        self._limit = max(1, min(page_size, MAX_LIMIT))
        self._max_events = max_events
        self._clock = clock

    async def poll(
        self, kinds: list[str], cursor: Mapping[str, Any] | None
    ) -> tuple[list[ChangeEvent], dict[str, Any]]:
        type_ids = self._type_ids(kinds)
        base = f"resource(typeId in ({', '.join(quote_literal(t) for t in type_ids)}))"
        return await self.window(MESSAGES, base, cursor)

    async def window(
        self, source: WindowSource, base: str | None, cursor: Mapping[str, Any] | None
    ) -> tuple[list[ChangeEvent], dict[str, Any]]:
        """Read ``source`` (items matching ``base``) from the cursor's window on; the next cursor."""
        state = FeedCursor.load(cursor, now=self._clock(), overlap=self._overlap)
        time_field = source.time_field
        prefix = f"{base} and " if base else ""
        already = set(state.recent_ids)
        seen_ids: set[str] = set()
        seen: list[_Seen] = []
        events: list[ChangeEvent] = []
        boundary = format_timestamp(state.window_start)  # raw createdAt of the last page's end
        op = ">="
        drain_after: str | None = None
        stalled = 0
        while True:
            if drain_after is not None:
                where = (
                    f"{prefix}{time_field} = {quote_literal(boundary)} and id > {quote_literal(drain_after)}"
                )
            else:
                where = f"{prefix}{time_field} {op} {quote_literal(boundary)}"
            results = await self._page(source, where)
            seen_before = len(seen_ids)
            for message in results:
                entry = self._header(source, message)
                if entry is None or entry.message_id in seen_ids:
                    continue
                seen_ids.add(entry.message_id)
                seen.append(entry)
                if entry.message_id in already:
                    continue
                event = self._to_event(source, message)
                if event is not None:
                    events.append(event)
            if len(results) < self._limit:
                if drain_after is None:
                    break
                drain_after, op = None, ">"  # that timestamp is exhausted: continue after it
                continue
            stalled = stalled + 1 if len(seen_ids) == seen_before else 0
            if stalled > 1:  # the expected stall is one page before draining; more means no progress
                raise PermanentError(
                    f"commercetools GET /{source.path} keeps returning the same page for {where!r}",
                    connection=self._client.transport.connection,
                )
            last = results[-1]
            last_created, last_id = str(last.get(time_field)), str(last.get("id"))
            if drain_after is not None or (op == ">=" and last_created == boundary):
                drain_after = last_id  # one timestamp fills whole pages: page through it by id
            else:
                boundary, op = last_created, ">="
            if len(events) >= self._max_events:
                break  # the rest comes with the next poll; the cursor covers what was read
        return events, self._next_cursor(state, seen)

    def _type_ids(self, kinds: list[str]) -> list[str]:
        if not kinds:
            raise PermanentError("poll_changes needs at least one kind")
        unknown = [k for k in kinds if k not in KIND_TYPE_IDS]
        if unknown:
            raise PermanentError(
                f"the commercetools change feed does not support kinds {unknown}",
                connection=self._client.transport.connection,
            )
        return sorted({t for k in kinds for t in KIND_TYPE_IDS[k]})

    async def _page(self, source: WindowSource, where: str) -> list[dict[str, Any]]:
        params = [
            ("where", where),
            ("sort", f"{source.time_field} asc"),
            ("sort", "id asc"),
            ("limit", str(self._limit)),
            ("withTotal", "false"),
            *source.params,
        ]
        operation = f"GET /{source.path}"
        body = await self._client.get((source.path,), params, operation=operation)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise PermanentError(
                f"commercetools {operation} answered without a 'results' list",
                connection=self._client.transport.connection,
            )
        return [r for r in results if isinstance(r, dict)]

    def _header(self, source: WindowSource, item: Mapping[str, Any]) -> _Seen | None:
        key, stamp = source.key(item), item.get(source.time_field)
        try:
            if key is None or not isinstance(stamp, str):
                raise ValueError(f"id or {source.time_field} missing")
            return _Seen(_parse_cursor_time(stamp, source.time_field), key)
        except (ValueError, ConfigError) as exc:
            log.warning(
                "skipping a %s item without a usable id/%s (%s): %.200r",
                source.path,
                source.time_field,
                exc,
                item,
            )
            return None

    def _to_event(self, source: WindowSource, item: Mapping[str, Any]) -> ChangeEvent | None:
        try:
            return source.to_event(item)
        except IngressError as exc:
            # Not expected from the API itself; skipping one bad item must not stall the feed.
            noun = "message" if source is MESSAGES else f"{source.path} item"
            log.warning("skipping malformed %s %s: %s", noun, item.get("id"), exc.reason)
            return None

    def _next_cursor(self, state: FeedCursor, seen: list[_Seen]) -> dict[str, Any]:
        last = max([state.last_created_at, *(s.created_at for s in seen)])
        floor = last - self._overlap
        recent = sorted(
            (s for s in seen if s.created_at >= floor), key=lambda s: (s.created_at, s.message_id)
        )[-RECENT_IDS_LIMIT:]
        cursor: dict[str, Any] = {
            "last_created_at": format_timestamp(last),
            "recent_ids": [s.message_id for s in recent],
        }
        if state.not_before is not None and state.not_before > floor:
            cursor["not_before"] = format_timestamp(state.not_before)  # still inside the overlap
        return cursor
