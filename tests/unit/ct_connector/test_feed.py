"""The Messages API feed: overlapping windows, id de-duplication, keyset paging, bounded polls."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from crmsync.connectors.commercetools.client import CommercetoolsClient
from crmsync.connectors.commercetools.feed import MessageFeed, format_timestamp
from crmsync.errors import ConfigError, PermanentError

from .payloads import message

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
WHERE = re.compile(
    r'resource\(typeId in \((?P<types>[^)]*)\)\) and createdAt (?P<op>>=|>|=) "(?P<ts>[^"]+)"'
    r'(?: and id > "(?P<after>[^"]+)")?'
)


def ts(seconds: float) -> str:
    return format_timestamp(NOW + timedelta(seconds=seconds))


class FakeMessagesApi:
    """Evaluates exactly the predicates the feed sends, like the API would."""

    def __init__(self, *, ignore_where: bool = False) -> None:
        self.messages: list[dict[str, Any]] = []
        self.calls: list[dict[str, list[str]]] = []
        self.transport = SimpleNamespace(connection="shop")
        self.ignore_where = ignore_where

    def add(self, message_id: str, created_at: str, *, type_id: str = "customer", seq: int = 1) -> None:
        self.messages.append(
            message(
                "CustomerFirstNameSet",
                message_id=message_id,
                created_at=created_at,
                type_id=type_id,
                sequence=seq,
                resource_version=seq,
                resource_id=f"cust-{message_id}",
                platform=False,
                firstName="x",
            )
        )

    async def get(self, path: tuple[str, ...], params: list[tuple[str, str]], *, operation: str) -> Any:
        assert path == ("messages",) and operation == "GET /messages"
        query: dict[str, list[str]] = {}
        for key, value in params:
            query.setdefault(key, []).append(value)
        self.calls.append(query)
        assert "offset" not in query
        assert query["sort"] == ["createdAt asc", "id asc"] and query["withTotal"] == ["false"]
        limit = int(query["limit"][0])
        match = WHERE.fullmatch(query["where"][0])
        assert match, query["where"][0]
        types = set(re.findall(r'"([^"]+)"', match["types"]))
        bound = datetime.fromisoformat(match["ts"])

        def keep(m: dict[str, Any]) -> bool:
            if self.ignore_where:
                return True
            created = datetime.fromisoformat(m["createdAt"])
            ok = {">=": created >= bound, ">": created > bound, "=": created == bound}[match["op"]]
            if match["after"] is not None:
                ok = ok and m["id"] > match["after"]
            return ok and m["resource"]["typeId"] in types

        results = sorted(filter(keep, self.messages), key=lambda m: (m["createdAt"], m["id"]))
        return {"limit": limit, "offset": 0, "count": len(results[:limit]), "results": results[:limit]}


def feed(
    api: FakeMessagesApi, *, page_size: int = 500, max_events: int = 5000, now: datetime = NOW
) -> MessageFeed:
    return MessageFeed(
        cast(CommercetoolsClient, api),
        overlap_seconds=5.0,
        page_size=page_size,
        max_events=max_events,
        clock=lambda: now,
    )


async def test_first_poll_starts_at_now_minus_overlap() -> None:
    api = FakeMessagesApi()
    api.add("old", ts(-6))
    api.add("a", ts(-4))
    api.add("b", ts(-1), seq=2)
    events, cursor = await feed(api).poll(["customer"], None)
    assert [e.event_id for e in events] == ["a", "b"]
    assert api.calls[0]["where"] == [f'resource(typeId in ("customer")) and createdAt >= "{ts(-5)}"']
    assert cursor == {"last_created_at": ts(0), "recent_ids": ["a", "b"]}  # "now" is later than b


async def test_overlapping_polls_deduplicate_and_catch_late_messages() -> None:
    api = FakeMessagesApi()
    api.add("a", ts(10))
    api.add("b", ts(20))
    events, cursor = await feed(api).poll(["customer"], {"since": ts(0)})
    assert [e.event_id for e in events] == ["a", "b"]
    assert cursor["last_created_at"] == ts(20) and cursor["recent_ids"] == ["b"]
    api.add("late", ts(17))  # written asynchronously: visible only now, older than b
    api.add("c", ts(30))
    events, cursor = await feed(api).poll(["customer"], cursor)
    assert [e.event_id for e in events] == ["late", "c"]
    assert api.calls[-1]["where"] == [f'resource(typeId in ("customer")) and createdAt >= "{ts(15)}"']
    events, cursor2 = await feed(api).poll(["customer"], cursor)
    assert events == []
    assert cursor2 == cursor


async def test_a_pinned_since_is_a_floor_for_the_overlap_window() -> None:
    """Messages older than a pinned start (a full read covered them) are never replayed."""
    api = FakeMessagesApi()
    api.add("before", ts(-2))  # created before the full read started
    events, cursor = await feed(api).poll(["customer"], {"since": ts(0)})
    assert events == [] and cursor["not_before"] == ts(0)
    events, cursor = await feed(api).poll(["customer"], cursor)
    assert events == []
    assert api.calls[-1]["where"] == [f'resource(typeId in ("customer")) and createdAt >= "{ts(0)}"']
    api.add("after", ts(8))
    events, cursor = await feed(api).poll(["customer"], cursor)
    assert [e.event_id for e in events] == ["after"]
    assert "not_before" not in cursor  # the window (8 - 5 s) no longer reaches the floor


async def test_paging_through_one_crowded_timestamp_returns_each_message_once() -> None:
    api = FakeMessagesApi()
    for i in range(4):
        api.add(f"before-{i}", ts(1))
    for i in range(11):
        api.add(f"same-{i:02d}", ts(2))  # more messages on one millisecond than a page holds
    for i in range(4):
        api.add(f"after-{i}", ts(3))
    events, cursor = await feed(api, page_size=3).poll(["customer"], {"since": ts(0)})
    expected = [f"before-{i}" for i in range(4)] + [f"same-{i:02d}" for i in range(11)]
    expected += [f"after-{i}" for i in range(4)]
    assert [e.event_id for e in events] == expected
    drained = [c["where"][0] for c in api.calls if "createdAt =" in c["where"][0]]
    assert drained, "the crowded timestamp must be paged by id"
    assert cursor["last_created_at"] == ts(3)


async def test_a_poll_is_bounded_and_the_next_one_continues() -> None:
    api = FakeMessagesApi()
    for i in range(10):
        api.add(f"m{i:02d}", ts(i + 1))
    cursor: dict[str, Any] | None = {"since": ts(0)}
    seen: list[str] = []
    for _ in range(5):
        events, cursor = await feed(api, page_size=2, max_events=4).poll(["customer"], cursor)
        assert len(events) <= 4
        seen += [e.event_id for e in events]
    assert seen == [f"m{i:02d}" for i in range(10)]


async def test_recent_ids_are_bounded_by_the_overlap_window() -> None:
    api = FakeMessagesApi()
    api.add("a", ts(1))
    api.add("b", ts(100))
    api.add("c", ts(103))
    _, cursor = await feed(api).poll(["customer"], {"since": ts(0)})
    assert cursor["recent_ids"] == ["b", "c"]  # a is older than last_created_at - 5 s


async def test_other_resource_types_are_not_asked_for() -> None:
    api = FakeMessagesApi()
    api.add("pay", ts(1), type_id="payment")
    api.add("cus", ts(2))
    events, _ = await feed(api).poll(["customer"], {"since": ts(0)})
    assert [e.event_id for e in events] == ["cus"]


async def test_malformed_messages_are_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeMessagesApi()
    api.add("bad", ts(1))
    api.messages[-1]["sequenceNumber"] = "one"
    api.add("good", ts(2))
    events, cursor = await feed(api).poll(["customer"], {"since": ts(0)})
    assert [e.event_id for e in events] == ["good"]
    assert "skipping malformed message bad" in caplog.text
    assert cursor["recent_ids"] == ["bad", "good"]


async def test_a_server_that_ignores_the_predicate_cannot_loop_forever() -> None:
    api = FakeMessagesApi(ignore_where=True)
    for i in range(4):
        api.add(f"m{i}", ts(1))
    with pytest.raises(PermanentError, match="keeps returning the same page"):
        await feed(api, page_size=2).poll(["customer"], {"since": ts(0)})


@pytest.mark.parametrize(
    "cursor",
    [
        {"last_created_at": 5},
        {"last_created_at": "not a time"},
        {"last_created_at": ts(0), "recent_ids": "abc"},
        {"last_created_at": ts(0), "recent_ids": [1, 2]},
        {"since": "soon"},
    ],
)
async def test_invalid_cursors_are_config_errors(cursor: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="cursor"):
        await feed(FakeMessagesApi()).poll(["customer"], cursor)


@pytest.mark.parametrize("kinds", [[], ["cart"], ["customer", "shopping-list"]])
async def test_unsupported_kinds(kinds: list[str]) -> None:
    with pytest.raises(PermanentError):
        await feed(FakeMessagesApi()).poll(kinds, None)
