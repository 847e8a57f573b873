"""KlaviyoChanges against scripted pages: the filter it sends, same-second changes, paging, cursors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from crmsync.connectors.klaviyo import KlaviyoChanges, KlaviyoConnector
from crmsync.errors import PermanentError
from tests.unit.klaviyo_connector.fake_klaviyo import Captured, FakeKlaviyo, Reply

PROFILES = "/api/profiles"
T = "2026-03-01T10:00:05+00:00"


def _profile(pid: str, updated: str = T, **attributes: Any) -> dict[str, Any]:
    return {
        "type": "profile",
        "id": pid,
        "attributes": {"email": f"{pid}@example.com", "updated": updated, **attributes},
    }


def _page(*profiles: dict[str, Any], next_cursor: str | None = None) -> Reply:
    links = {"self": "x"}
    if next_cursor is not None:
        links["next"] = f"https://a.klaviyo.com/api/profiles/?page%5Bcursor%5D={next_cursor}"
    return Reply(200, {"data": list(profiles), "links": links})


def _changes(make_connector: Callable[..., KlaviyoConnector], **kw: Any) -> KlaviyoChanges:
    return KlaviyoChanges(make_connector().client, **kw)


async def test_query_parameters_and_the_same_second_window(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on(
        "GET",
        PROFILES,
        _page(_profile("A"), _profile("B")),
        _page(_profile("A"), _profile("B")),  # the same second read again: nothing new
        _page(_profile("A"), _profile("B", first_name="Changed")),  # B changed again within T
    )
    changes = _changes(make_connector)
    found, cursor = await changes.profiles_updated_since(None, page_size=50)
    assert [p["id"] for p in found] == ["A", "B"]
    first = fake.sent("GET", PROFILES)[0].query
    assert first == {"sort": "updated", "page[size]": "50", "additional-fields[profile]": "subscriptions"}
    found, cursor = await changes.profiles_updated_since(cursor)
    assert found == []
    # overlap 1 s plus the second that makes greater-than mean "at or after"
    assert fake.sent("GET", PROFILES)[1].query["filter"] == "greater-than(updated,2026-03-01T10:00:03Z)"
    found, cursor = await changes.profiles_updated_since(cursor)
    assert [(p["id"], p["attributes"]["first_name"]) for p in found] == [("B", "Changed")]


async def test_pages_are_followed_past_already_seen_profiles_until_a_page_of_news(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    def reply(captured: Captured) -> Reply:
        cursor = captured.query.get("page[cursor]")
        if cursor is None:
            return _page(_profile("A"), _profile("B"), next_cursor="c1")
        if cursor == "c1":
            return _page(_profile("C", "2026-03-01T10:00:06+00:00"), next_cursor="c2")
        return _page(_profile("D", "2026-03-01T10:00:07+00:00"), next_cursor="c2")

    fake.on("GET", PROFILES, reply)
    changes = _changes(make_connector)
    found, cursor = await changes.profiles_updated_since(None, page_size=2)
    assert [p["id"] for p in found] == ["A", "B"]  # a full page of news: stop there
    assert len(fake.sent("GET", PROFILES)) == 1
    found, cursor = await changes.profiles_updated_since(cursor, page_size=5)
    # A and B are skipped, C and D are new; a next link already followed ends the walk
    assert [p["id"] for p in found] == ["C", "D"]
    assert [c.query.get("page[cursor]") for c in fake.sent("GET", PROFILES)[1:]] == [None, "c1", "c2"]
    state = json.loads(cursor)
    assert state["updated"] == "2026-03-01T10:00:07+00:00"
    assert state["seen"] == {
        "2026-03-01T10:00:06+00:00": {"C": state["seen"]["2026-03-01T10:00:06+00:00"]["C"]},
        "2026-03-01T10:00:07+00:00": {"D": state["seen"]["2026-03-01T10:00:07+00:00"]["D"]},
    }  # A and B fell out of the 1 s overlap window


async def test_profiles_without_id_or_updated_are_ignored(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", PROFILES, _page({"type": "profile"}, _profile("A", updated="garbage"), _profile("B")))
    found, _ = await _changes(make_connector).profiles_updated_since(None)
    assert [p["id"] for p in found] == ["B"]


async def test_cursor_at_and_overlap(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", PROFILES, _page(_profile("A", "2026-03-01T10:00:30+00:00")))
    changes = _changes(make_connector, overlap_seconds=10)
    cursor = changes.cursor_at(datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=UTC))
    _, cursor = await changes.profiles_updated_since(cursor)
    assert fake.sent("GET", PROFILES)[0].query["filter"] == "greater-than(updated,2026-03-01T09:59:59Z)"
    await changes.profiles_updated_since(cursor)
    # the high-water mark minus the 10 s overlap is later than the start instant
    assert fake.sent("GET", PROFILES)[1].query["filter"] == "greater-than(updated,2026-03-01T10:00:19Z)"


@pytest.mark.parametrize(
    "cursor",
    [
        "{",
        "[]",
        '{"v": 2, "updated": null, "seen": {}}',
        '{"v": 1, "updated": "soon", "seen": {}}',
        '{"v": 1, "updated": null, "from": "x", "seen": {}}',
        '{"v": 1, "updated": null, "seen": []}',
    ],
)
async def test_malformed_cursors_are_refused(
    make_connector: Callable[..., KlaviyoConnector], cursor: str
) -> None:
    with pytest.raises(PermanentError, match="cursor is not valid"):
        await _changes(make_connector).profiles_updated_since(cursor)
