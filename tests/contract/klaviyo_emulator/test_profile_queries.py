"""GET /api/profiles: the filter language, page size limits, cursor pagination, sort, fieldsets."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from crmsync.emulators.klaviyo import KlaviyoEmulator

from ._support import Client, only_error, profile_doc


async def _seed(http: Client, count: int, prefix: str = "u") -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        out.append(
            await http.create_profile(email=f"{prefix}{i:03d}@example.com", external_id=f"{prefix}-{i:03d}")
        )
    return out


async def _all_pages(http: Client, first: str, **params: str) -> list[str]:
    ids: list[str] = []
    status, doc, _ = await http.get(first, **params)
    while True:
        assert status == 200, doc
        ids.extend(p["id"] for p in doc["data"])
        nxt = doc["links"].get("next")
        if not nxt:
            return ids
        status, doc, _ = await http.get(nxt)


async def test_equals_and_any_filters(http: Client) -> None:
    seeded = await _seed(http, 5)
    status, doc, _ = await http.get("/api/profiles", filter='equals(email,"U002@example.com")')
    assert status == 200
    assert [p["id"] for p in doc["data"]] == [seeded[2]["id"]]
    status, doc, _ = await http.get("/api/profiles", filter="any(external_id,['u-001','u-004','nope'])")
    assert [p["id"] for p in doc["data"]] == [seeded[1]["id"], seeded[4]["id"]]
    status, doc, _ = await http.get(
        "/api/profiles", filter=f'any(id,["{seeded[0]["id"]}","{seeded[3]["id"]}"])'
    )
    assert [p["id"] for p in doc["data"]] == [seeded[0]["id"], seeded[3]["id"]]


async def test_comma_means_and(http: Client) -> None:
    seeded = await _seed(http, 3)
    both = 'equals(email,"u001@example.com"),equals(external_id,"u-001")'
    status, doc, _ = await http.get("/api/profiles", filter=both)
    assert [p["id"] for p in doc["data"]] == [seeded[1]["id"]]
    mismatch = 'equals(email,"u001@example.com"),equals(external_id,"u-002")'
    status, doc, _ = await http.get("/api/profiles", filter=mismatch)
    assert status == 200 and doc["data"] == []


async def test_created_and_updated_comparisons(http: Client) -> None:
    old = await http.create_profile(email="old@example.com")
    await asyncio.sleep(1.02 - time.time() % 1)  # whole-second timestamps, as on Klaviyo: next second
    new = await http.create_profile(email="new@example.com")
    cut = new["attributes"]["created"]
    status, doc, _ = await http.get("/api/profiles", filter=f"less-than(created,{cut})")
    assert [p["id"] for p in doc["data"]] == [old["id"]]
    status, doc, _ = await http.get(
        "/api/profiles", filter=f"greater-than(updated,{old['attributes']['updated']})"
    )
    assert status == 200
    assert [p["id"] for p in doc["data"]] == [new["id"]]


@pytest.mark.parametrize(
    "expression",
    [
        'equals(first_name,"Ada")',  # field not filterable on profiles
        'greater-than(email,"a")',  # operator not allowed for the field
        "equals(email,unquoted)",  # strings must be quoted
        'equals(email,"a@b.com"',  # unbalanced
        'any(email,"a@b.com")',  # any needs a list
        'contains(email,"a")',  # not allowed on profiles
        "greater-than(created,not-a-date)",
        'frobnicate(email,"x")',
        "",
    ],
)
async def test_unsupported_filters_are_400_on_the_filter_parameter(http: Client, expression: str) -> None:
    status, doc, _ = await http.get("/api/profiles", filter=expression)
    assert status == 400
    error = only_error(doc)
    assert error["code"] == "invalid"
    assert error["source"] == {"parameter": "filter"}


async def test_page_size_default_20_max_100(http: Client, emulator: KlaviyoEmulator) -> None:
    await _seed(http, 25)
    status, doc, _ = await http.get("/api/profiles")
    assert len(doc["data"]) == 20 and "next" in doc["links"]
    for bad in ("101", "0", "ten"):
        status, doc, _ = await http.get("/api/profiles", **{"page[size]": bad})
        assert status == 400
        assert only_error(doc)["source"] == {"parameter": "page[size]"}
    status, doc, _ = await http.get("/api/profiles", **{"page[size]": "100"})
    assert len(doc["data"]) == 25 and "next" not in doc["links"]


async def test_next_link_followed_verbatim_covers_everything_once(
    http: Client, emulator: KlaviyoEmulator
) -> None:
    seeded = await _seed(http, 45)
    status, doc, _ = await http.get("/api/profiles", **{"page[size]": "10"})
    assert status == 200
    assert doc["links"]["next"].startswith(f"{emulator.base_url}/api/profiles")
    ids = await _all_pages(http, "/api/profiles", **{"page[size]": "10"})
    assert ids == [p["id"] for p in seeded]


async def test_cursor_alone_and_full_url_as_cursor_both_work(http: Client) -> None:
    seeded = await _seed(http, 7)
    status, doc, _ = await http.get("/api/profiles", **{"page[size]": "3"})
    next_url = doc["links"]["next"]
    cursor = parse_qs(urlsplit(next_url).query)["page[cursor]"][0]
    assert cursor and "://" not in cursor
    status, by_cursor, _ = await http.get("/api/profiles", **{"page[size]": "3", "page[cursor]": cursor})
    # the official SDK passes an http:// links.next URL through unchanged as page[cursor]
    assert status == 200
    status, by_url, _ = await http.get("/api/profiles", **{"page[size]": "3", "page[cursor]": next_url})
    assert status == 200
    expected = [p["id"] for p in seeded[3:6]]
    assert [p["id"] for p in by_cursor["data"]] == expected
    assert [p["id"] for p in by_url["data"]] == expected


async def test_inserts_between_pages_are_not_skipped_or_repeated(http: Client) -> None:
    seeded = await _seed(http, 4)
    status, doc, _ = await http.get("/api/profiles", **{"page[size]": "2"})
    late = await http.create_profile(email="late@example.com")
    status, doc2, _ = await http.get(doc["links"]["next"])
    status, doc3, _ = await http.get(doc2["links"]["next"])
    assert status == 200 and "next" not in doc3["links"]
    seen = [p["id"] for d in (doc, doc2, doc3) for p in d["data"]]
    assert seen == [p["id"] for p in seeded] + [late["id"]]


async def test_invalid_cursor_is_400(http: Client) -> None:
    status, doc, _ = await http.get("/api/profiles", **{"page[cursor]": "garbage!!"})
    assert status == 400
    assert only_error(doc)["detail"] == "Invalid cursor provided."


async def test_sort_descending_and_by_email_with_paging(http: Client) -> None:
    a = await http.create_profile(email="c@example.com")
    b = await http.create_profile(email="a@example.com")
    c = await http.create_profile(email="b@example.com")
    assert await _all_pages(http, "/api/profiles", sort="-created", **{"page[size]": "2"}) == [
        c["id"],
        b["id"],
        a["id"],
    ]
    assert await _all_pages(http, "/api/profiles", sort="email", **{"page[size]": "1"}) == [
        b["id"],
        c["id"],
        a["id"],
    ]
    assert await _all_pages(http, "/api/profiles", sort="-email", **{"page[size]": "2"}) == [
        a["id"],
        c["id"],
        b["id"],
    ]
    status, doc, _ = await http.get("/api/profiles", sort="first_name")
    assert status == 400 and only_error(doc)["source"] == {"parameter": "sort"}


async def test_sparse_fieldsets(http: Client) -> None:
    await http.post(
        "/api/profiles",
        profile_doc(email="f@example.com", first_name="F", location={"city": "Oslo", "zip": "1"}),
    )
    status, doc, _ = await http.get("/api/profiles", **{"fields[profile]": "email,location.city"})
    assert status == 200
    assert doc["data"][0]["attributes"] == {"email": "f@example.com", "location": {"city": "Oslo"}}
    status, doc, _ = await http.get("/api/profiles", **{"fields[profile]": "email,shoe_size"})
    assert status == 400 and only_error(doc)["source"] == {"parameter": "fields[profile]"}


async def test_additional_fields_subscriptions(http: Client) -> None:
    created = await http.create_profile(email="s@example.com")
    status, doc, _ = await http.get(
        f"/api/profiles/{created['id']}", **{"additional-fields[profile]": "subscriptions"}
    )
    marketing = doc["data"]["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "NEVER_SUBSCRIBED"
    assert marketing["can_receive_email_marketing"] is False
    status, doc, _ = await http.get("/api/profiles")
    assert "subscriptions" not in doc["data"][0]["attributes"]
    status, doc, _ = await http.get("/api/profiles", **{"additional-fields[profile]": "horoscope"})
    assert status == 400
