"""Per-store list membership (``$lists``) against scripted responses: bodies, moves, grouping, failures."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector
from crmsync.connectors.klaviyo import lists as lists_module
from crmsync.errors import PermanentError, RateLimitedError, Recovery, TransientError
from crmsync.ports import LISTS, Projection
from tests.unit.klaviyo_connector.fake_klaviyo import Captured, FakeKlaviyo, Reply, error_body, profile_body

JOBS = "/api/profile-bulk-import-jobs"
IMPORT = "/api/profile-import"
_NAME = re.compile(r'^equals\(name,"(.*)"\)$')


def _item(n: int, lists: list[str] | None, previous: list[str] | None = None, **extra: Any) -> Projection:
    payload: dict[str, Any] = {"external_id": f"c-{n}", "email": f"c{n}@example.com", **extra}
    if lists is not None:
        payload[LISTS] = lists
    prev = None if previous is None else {"external_id": f"c-{n}", LISTS: previous}
    return Projection("customer", f"c-{n}", payload, correlation_id=f"corr-{n}", previous=prev)


class Lists:
    """The list endpoints of the fake: lists by name (``existing``), new ones created on POST."""

    def __init__(self, fake: FakeKlaviyo, existing: dict[str, str]) -> None:
        self.ids = dict(existing)
        fake.on("GET", "/api/lists", self._find)
        fake.on("POST", "/api/lists", self._create)

    def _find(self, c: Captured) -> Reply:
        match = _NAME.match(c.query.get("filter", ""))
        assert match is not None, c.query
        found = self.ids.get(match.group(1))
        return Reply(200, {"data": [{"type": "list", "id": found}] if found else []})

    def _create(self, c: Captured) -> Reply:
        name = c.json()["data"]["attributes"]["name"]
        self.ids[name] = f"L-{name}"
        return Reply(201, {"data": {"type": "list", "id": self.ids[name], "attributes": {"name": name}}})


def _members(fake: FakeKlaviyo, method: str, list_id: str) -> list[list[str]]:
    """The profile ids of each membership call of ``method`` on ``list_id``, in order."""
    path = f"/api/lists/{list_id}/relationships/profiles"
    calls = []
    for captured in fake.sent(method, path):
        body = captured.json()
        assert set(body) == {"data"} and all(set(e) == {"type", "id"} for e in body["data"]), body
        assert all(e["type"] == "profile" for e in body["data"]), body
        calls.append([e["id"] for e in body["data"]])
    return calls


def _membership_paths(fake: FakeKlaviyo) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests if "/relationships/profiles" in r.path]


def _script_job(fake: FakeKlaviyo, profiles: list[tuple[str, str]]) -> None:
    """One bulk job ``J1`` that completes without errors; its profiles are ``(external_id, id)``."""
    fake.on("POST", JOBS, Reply(202, {"data": {"type": "profile-bulk-import-job", "id": "J1"}}))
    attributes = {"status": "complete", "total_count": len(profiles), "completed_count": len(profiles)}
    fake.on(
        "GET",
        f"{JOBS}/J1",
        Reply(200, {"data": {"type": "profile-bulk-import-job", "id": "J1", "attributes": attributes}}),
    )
    fake.on("GET", f"{JOBS}/J1/import-errors", Reply(200, {"data": [], "links": {}}))
    data = [{"type": "profile", "id": pid, "attributes": {"external_id": ext}} for ext, pid in profiles]
    fake.on("GET", f"{JOBS}/J1/profiles", Reply(200, {"data": data, "links": {}}))


# -- the profile body ------------------------------------------------------------------------------
async def test_lists_are_never_a_profile_attribute(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    Lists(fake, {"eu": "LEU"})
    fake.on("POST", IMPORT, Reply(201, profile_body("P1")))
    fake.on("POST", "/api/lists/LEU/relationships/profiles", Reply(204))
    fake.on("DELETE", "/api/lists/LEU/relationships/profiles", Reply(204))
    connector = make_connector()
    assert (await connector.upsert(_item(1, ["eu"]))).ok
    # the customer left every store: the engine lists "$lists" among the paths to clear
    gone = _item(1, None, previous=["eu"], first_name="A")
    gone.clear = ["$lists", "last_name"]
    assert (await connector.upsert(gone)).ok
    first, second = (c.json()["data"] for c in fake.sent("POST", IMPORT))
    assert first["attributes"] == {"external_id": "c-1", "email": "c1@example.com"}
    assert second["attributes"] == {
        "external_id": "c-1",
        "email": "c1@example.com",
        "first_name": "A",
        "last_name": None,
    }
    assert "meta" not in second
    assert _members(fake, "DELETE", "LEU") == [["P1"]]


async def test_lists_are_not_sent_in_a_duplicate_patch_nor_a_bulk_job(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    Lists(fake, {"eu": "LEU"})
    fake.on("POST", "/api/lists/LEU/relationships/profiles", Reply(204))
    duplicate = error_body(409, "duplicate_profile", "exists", meta={"duplicate_profile_id": "P9"})
    fake.on("POST", IMPORT, Reply(409, duplicate))
    fake.on("PATCH", "/api/profiles/P9", Reply(200, profile_body("P9")))
    connector = make_connector()
    result = await connector.upsert(_item(9, ["eu"]))
    assert (result.ok, result.target_id) == (True, "P9"), result.error
    [patch] = fake.sent("PATCH", "/api/profiles/P9")
    assert LISTS not in patch.json()["data"]["attributes"]
    assert _members(fake, "POST", "LEU") == [["P9"]]

    _script_job(fake, [("c-1", "P1"), ("c-2", "P2")])
    results = await connector.bulk_upsert([_item(1, ["eu"]), _item(2, ["eu"])])
    assert all(r.ok for r in results)
    [job] = fake.sent("POST", JOBS)
    for profile in job.json()["data"]["attributes"]["profiles"]["data"]:
        assert LISTS not in profile["attributes"]


# -- single records --------------------------------------------------------------------------------
async def test_first_delivery_creates_the_list_once_and_adds_the_profile(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    lists = Lists(fake, {})
    fake.on("POST", IMPORT, Reply(201, profile_body("P1")), Reply(201, profile_body("P2")))
    fake.on("POST", "/api/lists/L-eu-store/relationships/profiles", Reply(204))
    connector = make_connector()
    first = await connector.upsert(_item(1, ["eu-store"]))
    assert (first.ok, first.created, first.target_id, first.calls) == (True, True, "P1", 2)
    second = await connector.upsert(_item(2, ["eu-store"]))
    assert second.ok and second.target_id == "P2"
    assert lists.ids == {"eu-store": "L-eu-store"}
    assert len(fake.sent("POST", "/api/lists")) == 1 and len(fake.sent("GET", "/api/lists")) == 1  # cached
    assert _members(fake, "POST", "L-eu-store") == [["P1"], ["P2"]]
    # membership, not consent: no subscription job, no removal
    assert not [r for r in fake.requests if "subscription" in r.path]
    assert fake.sent("DELETE") == []


async def test_a_customer_moving_stores_leaves_the_old_list_before_joining_the_new(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    Lists(fake, {"A": "LA", "B": "LB"})
    fake.on("POST", IMPORT, Reply(200, profile_body("P1")))
    fake.on("DELETE", "/api/lists/LA/relationships/profiles", Reply(204))
    fake.on("POST", "/api/lists/LB/relationships/profiles", Reply(204))
    result = await make_connector().upsert(_item(1, ["B"], previous=["A"]))
    assert (result.ok, result.created, result.calls) == (True, False, 3)
    assert _membership_paths(fake) == [
        ("DELETE", "/api/lists/LA/relationships/profiles"),
        ("POST", "/api/lists/LB/relationships/profiles"),
    ]
    assert _members(fake, "DELETE", "LA") == [["P1"]] and _members(fake, "POST", "LB") == [["P1"]]
    assert fake.sent("POST", "/api/lists") == []


async def test_staying_costs_no_call_and_leaving_a_missing_list_creates_nothing(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], records: list[Any]
) -> None:
    lists = Lists(fake, {"B": "LB", "C": "LC"})
    fake.on("POST", IMPORT, Reply(200, profile_body("P1")))
    fake.on("POST", "/api/lists/LB/relationships/profiles", Reply(204))
    result = await make_connector().upsert(_item(1, ["B", "C"], previous=["gone", "C"]))
    assert result.ok and result.calls == 2
    assert lists.ids == {"B": "LB", "C": "LC"} and fake.sent("POST", "/api/lists") == []
    assert _membership_paths(fake) == [("POST", "/api/lists/LB/relationships/profiles")]  # not C again
    # the membership request is logged as this record's
    [added] = [r for r in records if r.operation == "add_profiles_to_list"]
    assert (added.record_key, added.correlation_id, added.kind) == ("c-1", "corr-1", "customer")


async def test_no_lists_no_membership_calls_and_failed_writes_join_nothing(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", IMPORT, Reply(201, profile_body("P1")))
    connector = make_connector(max_retries=0)
    assert (await connector.upsert(_item(1, None))).ok
    fake.on(
        "POST",
        IMPORT,
        Reply(400, error_body(400, "invalid", "bad email", source={"pointer": "/data/attributes/email"})),
    )
    failed = await connector.upsert(_item(2, ["eu"]))
    assert not failed.ok
    assert [r.path for r in fake.requests] == [IMPORT, IMPORT]


# -- failures --------------------------------------------------------------------------------------
async def test_a_failed_membership_fails_the_record_with_the_error_and_keeps_it_retryable(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    Lists(fake, {"eu": "LEU"})
    fake.on("POST", IMPORT, Reply(201, profile_body("P1")))
    fake.on(
        "POST",
        "/api/lists/LEU/relationships/profiles",
        Reply(429, error_body(429, "throttled", "slow down"), {"Retry-After": "7"}),
    )
    connector = make_connector(max_retries=0)
    result = await connector.upsert(_item(1, ["eu"]))
    assert (result.ok, result.target_id, result.calls) == (False, "P1", 2)
    assert isinstance(result.error, RateLimitedError) and result.error.retry_after == 7.0
    assert result.error.record_key == "c-1" and "'eu'" in result.error.message
    # a list that cannot be found or created: retryable when Klaviyo failed, permanent when refused
    fake.on("GET", "/api/lists", Reply(503, error_body(503, "error", "down")))
    result = await connector.upsert(_item(2, ["fr"]))
    assert not result.ok and isinstance(result.error, TransientError)
    assert result.error.recovery is Recovery.RETRY
    fake.on("GET", "/api/lists", Reply(200, {"data": []}))
    fake.on("POST", "/api/lists", Reply(400, error_body(400, "invalid", "bad name")))
    result = await connector.upsert(_item(3, ["de"]))
    assert not result.ok and isinstance(result.error, PermanentError)


async def test_bulk_groups_members_by_list_in_chunks_and_moves_the_movers(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lists_module, "MAX_MEMBERS_PER_CALL", 2)
    Lists(fake, {"A": "LA", "B": "LB"})
    fake.on("POST", "/api/lists/LA/relationships/profiles", Reply(204))
    fake.on("POST", "/api/lists/LB/relationships/profiles", Reply(204))
    fake.on("DELETE", "/api/lists/LA/relationships/profiles", Reply(204))
    fake.on("DELETE", "/api/lists/LB/relationships/profiles", Reply(204))
    items = [
        _item(0, ["A", "B"]),  # two stores: joined after the job, grouped per list
        _item(1, ["A", "B"]),
        _item(2, ["A"], previous=["B"]),  # moved from B to A
        _item(3, ["B"], previous=["A"]),  # moved from A to B
        _item(4, None),  # no store: nothing to do
    ]
    _script_job(fake, [(f"c-{n}", f"P{n}") for n in range(5)])
    results = await make_connector().bulk_upsert(items)
    assert [(r.ok, r.target_id) for r in results] == [(True, f"P{n}") for n in range(5)]
    assert [c.json()["data"].get("relationships") for c in fake.sent("POST", JOBS)] == [None]
    assert _members(fake, "POST", "LA") == [["P0", "P1"], ["P2"]]  # 3 members, 2 per call
    assert _members(fake, "POST", "LB") == [["P0", "P1"], ["P3"]]
    assert _members(fake, "DELETE", "LA") == [["P3"]] and _members(fake, "DELETE", "LB") == [["P2"]]
    assert len(fake.sent("GET", "/api/lists")) == 2  # one lookup per list name
    [read] = fake.sent("GET", f"{JOBS}/J1/profiles")
    assert read.query == {"fields[profile]": "email,external_id,phone_number", "page[size]": "100"}
    # write calls add up exactly: 1 job + 6 membership calls
    assert sum(r.calls for r in results) == 7


async def test_bulk_joins_of_one_list_go_in_jobs_that_carry_the_list(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    """An initial load: each profile joins one store list, so each list's profiles are imported in
    jobs with that list (``relationships.lists``): no profile ids read, no membership call."""
    Lists(fake, {"A": "LA", "B": "LB"})
    items = [_item(0, ["A"]), _item(1, ["B"]), _item(2, ["A"]), _item(3, None), _item(4, ["B"], previous=[])]
    _script_job(fake, [])
    results = await make_connector().bulk_upsert(items)
    assert all(r.ok for r in results) and [r.target_id for r in results] == [None] * 5
    jobs = [c.json()["data"] for c in fake.sent("POST", JOBS)]
    carried = {
        (job.get("relationships") or {}).get("lists", {}).get("data", [{}])[0].get("id"): [
            p["attributes"]["external_id"] for p in job["attributes"]["profiles"]["data"]
        ]
        for job in jobs
    }
    assert carried == {"LA": ["c-0", "c-2"], "LB": ["c-1", "c-4"], None: ["c-3"]}
    assert fake.sent("GET", f"{JOBS}/J1/profiles") == [] and _membership_paths(fake) == []
    assert sum(r.calls for r in results) == 3  # three jobs, nothing else written


async def test_bulk_without_lists_reads_no_profile_ids(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    _script_job(fake, [("c-1", "P1")])
    [result] = await make_connector().bulk_upsert([_item(1, None)])
    assert result.ok and result.target_id is None
    assert fake.sent("GET", f"{JOBS}/J1/profiles") == [] and _membership_paths(fake) == []


async def test_a_failing_list_fails_only_the_records_naming_it(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lists_module, "MAX_MEMBERS_PER_CALL", 2)
    Lists(fake, {"A": "LA", "B": "LB"})
    fake.on("POST", "/api/lists/LA/relationships/profiles", Reply(503, error_body(503, "error", "down")))
    # list B: the first chunk goes through, the second fails
    fake.on(
        "POST", "/api/lists/LB/relationships/profiles", Reply(204), Reply(500, error_body(500, "error", "x"))
    )
    # (each leaves a list that no longer exists, so they join after the job, not through it)
    items = [
        _item(n, lists, previous=["gone"]) for n, lists in enumerate([["A"], ["B"], ["B"], ["A", "B"], ["B"]])
    ]
    _script_job(fake, [(f"c-{n}", f"P{n}") for n in range(5)])
    results = await make_connector(max_retries=0).bulk_upsert(items)
    assert [r.ok for r in results] == [False, True, True, False, False]
    assert _members(fake, "POST", "LB") == [["P1", "P2"], ["P3", "P4"]]
    errors = [r.error for r in results]
    for error in (errors[0], errors[3], errors[4]):
        assert isinstance(error, TransientError) and error.recovery is Recovery.RETRY
    assert errors[0] is not None and errors[3] is not None and errors[4] is not None
    assert errors[0] is not errors[3]  # each record has its own error ...
    assert (errors[0].record_key, errors[3].record_key) == ("c-0", "c-3")
    assert "'A'" in errors[3].message  # ... naming the first list that failed for it
    assert "'B'" in errors[4].message


async def test_profile_ids_that_cannot_be_read_fail_only_the_records_with_lists(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    _script_job(fake, [])
    fake.on("GET", f"{JOBS}/J1/profiles", Reply(503, error_body(503, "error", "down")))
    items = [_item(1, ["A"], previous=["B"]), _item(2, None), _item(3, None, previous=["A"])]
    results = await make_connector(max_retries=0).bulk_upsert(items)
    assert [r.ok for r in results] == [False, True, False]
    assert isinstance(results[0].error, TransientError) and results[0].error.recovery is Recovery.RETRY
    assert results[2].error is not None and results[2].error.recovery is Recovery.RETRY
    # a refusal of the read is not the profiles' fault: still retryable, never dead-lettered
    fake.on("GET", f"{JOBS}/J1/profiles", Reply(404, error_body(404, "not_found", "no such job")))
    results = await make_connector(max_retries=0).bulk_upsert(items)
    assert [r.ok for r in results] == [False, True, False]
    assert isinstance(results[0].error, TransientError) and "ids unknown" in results[0].error.message
    assert _membership_paths(fake) == []


async def test_a_profile_missing_from_the_job_is_retried_not_lost(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    Lists(fake, {"A": "LA"})
    fake.on("POST", "/api/lists/LA/relationships/profiles", Reply(204))
    _script_job(fake, [("c-1", "P1")])  # c-2 is not reported among the job's profiles
    # (both leave a list that no longer exists, so they join A after the job: their ids are read)
    results = await make_connector().bulk_upsert([_item(n, ["A"], previous=["gone"]) for n in (1, 2)])
    assert results[0].ok and results[0].target_id == "P1"
    assert not results[1].ok and isinstance(results[1].error, TransientError)
    assert "profile id is unknown" in results[1].error.message
    assert _members(fake, "POST", "LA") == [["P1"]]


async def test_a_list_deleted_in_klaviyo_is_looked_up_again_on_retry(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    lists = Lists(fake, {"eu": "OLD"})
    fake.on("POST", IMPORT, Reply(200, profile_body("P1")))
    fake.on("POST", "/api/lists/OLD/relationships/profiles", Reply(204))
    connector = make_connector(max_retries=0)
    assert (await connector.upsert(_item(1, ["eu"]))).ok
    # someone deletes the list in Klaviyo and makes a new one of that name
    fake.on("POST", "/api/lists/OLD/relationships/profiles", Reply(404, error_body(404, "not_found", "gone")))
    lists.ids["eu"] = "NEW"
    fake.on("POST", "/api/lists/NEW/relationships/profiles", Reply(204))
    failed = await connector.upsert(_item(1, ["eu"]))
    assert not failed.ok and isinstance(failed.error, TransientError)  # retried, not dead-lettered
    retried = await connector.upsert(_item(1, ["eu"]))
    assert retried.ok, retried.error
    assert _members(fake, "POST", "NEW") == [["P1"]]
    assert len(fake.sent("GET", "/api/lists")) == 2
