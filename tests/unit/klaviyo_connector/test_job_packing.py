"""Packing projections into bulk import jobs: count limit, byte limit, oversized profiles."""

from __future__ import annotations

import itertools

import orjson
import pytest

from crmsync.connectors.klaviyo.packing import (
    ENVELOPE_BYTES,
    MAX_JOB_BYTES,
    MAX_JOB_RECORDS,
    MAX_PROFILE_BYTES,
    pack_jobs,
)
from crmsync.errors import RecordValidationError
from crmsync.ports import Projection


def _item(n: int, padding: int = 0) -> Projection:
    payload: dict[str, object] = {"external_id": f"c-{n}", "email": f"c{n}@example.com"}
    if padding:
        payload["properties"] = {"notes": "x" * padding}
    return Projection(kind="customer", record_key=f"c-{n}", payload=payload)


def test_count_limit_splits_25000_profiles_into_three_jobs() -> None:
    items = [_item(n) for n in range(25_000)]
    jobs, rejected = pack_jobs(items)
    assert rejected == {}
    assert [len(j.indexes) for j in jobs] == [MAX_JOB_RECORDS, MAX_JOB_RECORDS, 5_000]
    assert [i for j in jobs for i in j.indexes] == list(range(25_000))  # order kept, none lost


def test_byte_limit_closes_a_job_before_5_mb() -> None:
    items = [_item(n, padding=60_000) for n in range(200)]  # ~60 KB each → ~83 per job
    jobs, rejected = pack_jobs(items)
    assert rejected == {}
    assert len(jobs) == 3
    for job in jobs:
        body = job.body()
        assert job.size == len(body) <= MAX_JOB_BYTES
        assert len(job.indexes) < MAX_JOB_RECORDS
    # each job is full: one more profile would not have fitted
    for job, following in itertools.pairwise(jobs):
        assert job.size + 1 + len(following.parts[0]) > MAX_JOB_BYTES
    assert sum(len(j.indexes) for j in jobs) == 200


def test_body_is_the_exact_measured_json_document() -> None:
    items = [_item(n) for n in range(3)]
    jobs, _ = pack_jobs(items)
    body = jobs[0].body()
    assert len(body) == jobs[0].size
    assert orjson.loads(body) == {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {"data": [{"type": "profile", "attributes": i.payload} for i in items]}
            },
        }
    }


def test_smaller_limits_are_respected_exactly() -> None:
    items = [_item(n) for n in range(10)]
    one = len(orjson.dumps({"type": "profile", "attributes": items[0].payload}))
    jobs, _ = pack_jobs(items, max_records=4, max_bytes=ENVELOPE_BYTES + 3 * one + 2)
    assert [len(j.indexes) for j in jobs] == [3, 3, 3, 1]


def test_oversized_profile_is_rejected_without_being_sent() -> None:
    items = [_item(0), _item(1, padding=MAX_PROFILE_BYTES), _item(2)]
    jobs, rejected = pack_jobs(items, connection="kl")
    assert [i for j in jobs for i in j.indexes] == [0, 2]
    result = rejected[1]
    assert result.ok is False and result.record_key == "c-1" and result.calls == 0
    assert isinstance(result.error, RecordValidationError)
    assert "at most 100000 bytes" in result.error.message
    assert result.error.record_key == "c-1" and result.error.connection == "kl"
    assert b"c-1" not in b"".join(jobs[0].parts)


def test_profile_just_under_the_per_profile_limit_is_kept() -> None:
    base = len(orjson.dumps({"type": "profile", "attributes": _item(0, padding=1).payload}))
    item = _item(0, padding=MAX_PROFILE_BYTES - base + 1)
    jobs, rejected = pack_jobs([item])
    assert rejected == {} and len(jobs[0].parts[0]) == MAX_PROFILE_BYTES


def test_unserializable_payload_is_a_record_error() -> None:
    bad = Projection(kind="customer", record_key="c-x", payload={"properties": {"when": object()}})
    jobs, rejected = pack_jobs([bad, _item(1)])
    assert isinstance(rejected[0].error, RecordValidationError)
    assert [j.indexes for j in jobs] == [[1]]


@pytest.mark.parametrize("count", [0, 1])
def test_tiny_batches(count: int) -> None:
    jobs, rejected = pack_jobs([_item(n) for n in range(count)])
    assert len(jobs) == count and rejected == {}


def test_without_drops_one_profile() -> None:
    jobs, _ = pack_jobs([_item(n) for n in range(3)])
    smaller = jobs[0].without(1)
    assert smaller.indexes == [0, 2] and len(smaller.parts) == 2
    assert smaller.size == len(smaller.body())
