"""GDPR erasure (promise 8): one person, every target, then nothing left but a tombstone.

Order of work, so that a failure never loses the ability to finish:

1. gather the person's identifiers — the source id, and what was last delivered to each target
   (e-mail, phone number, the target's own id) — from the store;
2. ask every target to delete the person (Klaviyo: a data-privacy deletion job);
3. only when every target accepted: purge the store (records, links, delivered projections,
   inbox events, positions, dead letters, sync-log entries of the record) and write the tombstone
   (keyed hashes of the identifiers, see :mod:`crmsync.store._erasure`).

If a target fails, nothing is purged and the erasure can simply run again (live: the
``CustomerDeleted`` event backs off in the inbox like any delivery). Afterwards, events and reads
of the person are refused (:func:`refused_ids`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmsync.engine.flow import Flow
from crmsync.errors import CrmsyncError, PermanentError
from crmsync.ports import ErasingTarget
from crmsync.store import PurgeCounts, StateStore

IDENTIFIER_FIELDS = ("email", "phone_number")


@dataclass
class ErasureResult:
    kind: str
    record_key: str | None
    targets: dict[str, str] = field(default_factory=dict)  # target name -> "requested" | error
    purged: PurgeCounts | None = None
    tombstones: int = 0

    @property
    def complete(self) -> bool:
        return self.purged is not None


class ErasureFailed(CrmsyncError):
    """A target could not take the deletion request; nothing was purged, retry the erasure."""


def identifiers_of(
    flows: list[Flow], kind: str, record_key: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(identifiers, target id per target name) known for the person, from the store."""
    identifiers: dict[str, str] = {}
    target_ids: dict[str, str] = {}
    if record_key is None or not flows:
        return identifiers, target_ids
    store = flows[0].store
    internal = store.resolve(kind, flows[0].source.system, "id", record_key)
    if internal is None:
        return identifiers, target_ids
    for flow in flows:
        delivered = store.get_delivered(flow.target_key, [internal]).get(internal)
        if delivered is None:
            continue
        for name in IDENTIFIER_FIELDS:
            value = (delivered.payload or {}).get(name)
            if isinstance(value, str) and value:
                identifiers.setdefault(name, value)
        if delivered.target_id:
            target_ids[flow.target.name] = delivered.target_id
    for link in store.links(internal):
        if link.system != flows[0].source.system and link.id_kind == "id":
            target_ids.setdefault(link.system, link.value)
    return identifiers, target_ids


async def erase_person(
    flows: list[Flow],
    *,
    kind: str,
    record_key: str | None,
    identifiers: dict[str, str] | None = None,
    reason: str = "erasure request",
    correlation_id: str | None = None,
) -> ErasureResult:
    """Erase one person from every target of ``flows`` (all of one source), then from the store."""
    if not flows:
        raise PermanentError(f"no flow holds {kind} records: nothing to erase from")
    store: StateStore = flows[0].store
    known, target_ids = identifiers_of(flows, kind, record_key)
    wanted = {**known, **{k: v for k, v in (identifiers or {}).items() if v}}
    if not wanted and record_key is None:
        raise PermanentError("an erasure needs the person's source id, e-mail or phone number")
    result = ErasureResult(kind, record_key)
    failures: list[str] = []
    for target in {id(f.target): f.target for f in flows}.values():
        if not isinstance(target, ErasingTarget):
            result.targets[target.name] = "cannot erase (no erasure support): skipped"
            continue
        request: dict[str, Any] = dict(wanted)
        if target.name in target_ids or target.system in target_ids:
            request["profile_id"] = target_ids.get(target.name) or target_ids[target.system]
        if not request:
            result.targets[target.name] = "nothing known about the person there: skipped"
            continue
        outcome = await target.erase(request, correlation_id=correlation_id)
        if outcome.ok:
            result.targets[target.name] = "requested"
        else:
            message = outcome.error.message if outcome.error else "failed"
            result.targets[target.name] = f"failed: {message}"
            failures.append(f"{target.name}: {message}")
    if failures:
        raise ErasureFailed("erasure not complete, nothing purged; retry it: " + "; ".join(failures))
    internal = store.resolve(kind, flows[0].source.system, "id", record_key) if record_key else None
    mentions = [v for v in (record_key, *wanted.values(), *target_ids.values()) if v]
    result.purged = store.purge_person(
        kind, flows[0].source.name, record_key or "", [internal] if internal else [], mentions=mentions
    )
    stones = dict(wanted)
    if record_key:
        stones["id"] = record_key
    result.tombstones = store.tombstone_add(kind, stones, reason)
    return result


def refused_ids(store: StateStore, kind: str, ids: list[str]) -> set[str]:
    """The source ids of erased people among ``ids`` (their events and records are refused)."""
    return store.tombstoned(kind, "id", ids)
