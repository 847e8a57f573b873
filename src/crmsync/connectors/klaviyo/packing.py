"""Packing projections into Klaviyo bulk profile import jobs, by count and by measured bytes.

Klaviyo's ``POST /api/profile-bulk-import-jobs`` takes at most 10,000 profiles and 5 MB of request
body per job, and at most 100 KB per profile. :func:`pack_jobs` serializes each profile once and
packs by *measured* bytes, and the request body is the concatenation of exactly those bytes, so what
was measured is what is sent. A profile over the per-profile limit is rejected locally with a
:class:`~crmsync.errors.RecordValidationError` and never sent.
"""

from __future__ import annotations

import orjson

from crmsync.connectors.klaviyo.resource import profile_resource
from crmsync.errors import RecordValidationError
from crmsync.ports import DeliveryResult, Projection

MAX_JOB_RECORDS = 10_000
MAX_JOB_BYTES = 5_000_000
MAX_PROFILE_BYTES = 100_000

_PREFIX = b'{"data":{"type":"profile-bulk-import-job","attributes":{"profiles":{"data":['
_SUFFIX = b"]}}}}"
ENVELOPE_BYTES = len(_PREFIX) + len(_SUFFIX)


class PackedJob:
    """Profiles of one job: item indexes (into the caller's list) and their serialized resources.

    The body size is kept as a running total so that packing stays linear in the number of items.
    """

    def __init__(
        self, indexes: list[int] | None = None, parts: list[bytes] | None = None, list_id: str | None = None
    ) -> None:
        self.indexes: list[int] = []
        self.parts: list[bytes] = []
        self.list_id = list_id  # every profile of the job joins this list (relationships.lists)
        self._suffix = _SUFFIX if list_id is None else _list_suffix(list_id)
        self._payload_bytes = 0
        for index, part in zip(indexes or [], parts or [], strict=True):
            self.add(index, part)

    def add(self, index: int, part: bytes) -> None:
        self._payload_bytes += len(part) + (1 if self.parts else 0)  # comma separator
        self.indexes.append(index)
        self.parts.append(part)

    @property
    def size(self) -> int:
        """Exact byte size of :meth:`body`."""
        return len(_PREFIX) + len(self._suffix) + self._payload_bytes

    def body(self) -> bytes:
        return _PREFIX + b",".join(self.parts) + self._suffix

    def without(self, position: int) -> PackedJob:
        keep = [i for i in range(len(self.parts)) if i != position]
        return PackedJob([self.indexes[i] for i in keep], [self.parts[i] for i in keep], self.list_id)


def _list_suffix(list_id: str) -> bytes:
    """The body's end with the job's ``lists`` relationship (the profiles join that list)."""
    lists = orjson.dumps({"lists": {"data": [{"type": "list", "id": list_id}]}})
    return b']}},"relationships":' + lists + b"}}"


def pack_jobs(
    items: list[Projection],
    *,
    max_records: int = MAX_JOB_RECORDS,
    max_bytes: int = MAX_JOB_BYTES,
    max_profile_bytes: int = MAX_PROFILE_BYTES,
    connection: str | None = None,
    list_id: str | None = None,
) -> tuple[list[PackedJob], dict[int, DeliveryResult]]:
    """Split items into jobs within both limits; return the jobs and the locally rejected items.

    Items keep their order; a job is closed as soon as the next profile would break a limit. With
    ``list_id`` every job carries that list (its profiles join it).
    """
    jobs: list[PackedJob] = []
    rejected: dict[int, DeliveryResult] = {}
    current = PackedJob(list_id=list_id)
    per_profile = min(max_profile_bytes, max_bytes - current.size)
    for index, item in enumerate(items):
        try:
            part = orjson.dumps(profile_resource(item))
        except (TypeError, orjson.JSONEncodeError) as exc:
            rejected[index] = _reject(item, f"payload is not serializable to JSON: {exc}", connection)
            continue
        if len(part) > per_profile:
            message = (
                f"profile is {len(part)} bytes serialized; Klaviyo accepts at most "
                f"{per_profile} bytes per profile in a bulk import"
            )
            rejected[index] = _reject(item, message, connection)
            continue
        separator = 1 if current.parts else 0
        if current.parts and (
            len(current.parts) >= max_records or current.size + separator + len(part) > max_bytes
        ):
            jobs.append(current)
            current = PackedJob(list_id=list_id)
        current.add(index, part)
    if current.parts:
        jobs.append(current)
    return jobs, rejected


def _reject(item: Projection, message: str, connection: str | None) -> DeliveryResult:
    error = RecordValidationError(
        f"klaviyo bulk import: {message}",
        connection=connection,
        entity="profile",
        record_key=item.record_key,
        correlation_id=item.correlation_id,
    )
    return DeliveryResult(item.record_key, ok=False, error=error, calls=0)
