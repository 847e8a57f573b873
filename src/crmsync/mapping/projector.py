"""The projector: source record → canonical record → target payload, per a compiled contract.

Pipeline stages map onto the architecture: :meth:`Projector.to_canonical` is *normalize* (source →
canonical), :meth:`Projector.to_payload` is *project* (canonical → target, validated, with
identifiers), and :meth:`Projector.project` runs both for one record. Bad data never escapes as
anything but :class:`~crmsync.errors.RecordValidationError` (dead-letter the record, keep going).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

from pydantic import ValidationError

from crmsync.errors import RecordValidationError
from crmsync.mapping.compiler import Plan, compile_contract
from crmsync.mapping.contract import Contract
from crmsync.mapping.payload import projection_hash, to_json_value
from crmsync.mapping.runtime import RunState
from crmsync.mapping.transforms import DEFAULT_REGISTRY, TransformRegistry
from crmsync.mapping.validation import PayloadValidator
from crmsync.model import Company, Person
from crmsync.ports import Projection

CanonicalRecord = Person | Company


SourceFields = Callable[[], dict[str, Any]]


class _LazySources:
    """``source_fields`` computed on first access: recording every read costs ~20% of a projection,
    and only previews and error reports look at it."""

    @cached_property
    def source_fields(self) -> dict[str, Any]:
        compute: SourceFields | None = getattr(self, "sources", None)
        return compute() if compute is not None else {}


@dataclass(frozen=True)
class CanonicalResult(_LazySources):
    """The inbound stage's output: the canonical record and what it was built from.

    ``source_fields``: flattened source values that fed the mapping (``addresses[1].mobile`` ...),
    computed on first access by re-reading the (unchanged) source record.
    """

    canonical: CanonicalRecord
    warnings: list[str] = field(default_factory=list)
    record_key: str | None = None
    sources: SourceFields | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ProjectionResult(_LazySources):
    """One record projected for the target.

    ``payload``: target attributes with null/blank/empty values omitted at every depth.
    ``identifiers``: the contract's ``identifiers:`` read from the payload (only those present).
    ``warnings``: values dropped or coerced (``on_invalid: drop``), for logs and previews.
    ``source_fields``: flattened source values that fed the mapping (``addresses[1].mobile`` ...),
    computed on first access (for ``crmsync mapping preview`` and error reports).
    ``record_key``: the source record's id (contract ``source.id_path``).
    ``withheld``: the source's values of attributes another system owns (not in ``payload``).
    """

    canonical: CanonicalRecord
    payload: dict[str, Any]
    identifiers: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    record_key: str | None = None
    sources: SourceFields | None = field(default=None, repr=False, compare=False)
    # values the source has for attributes another system owns (dotted payload path -> value):
    # left out of ``payload``, kept for provenance and the conflict log
    withheld: dict[str, Any] = field(default_factory=dict)

    @property
    def payload_hash(self) -> str:
        return projection_hash(self.payload)

    def to_projection(self, kind: str, *, correlation_id: str | None = None) -> Projection:
        """The connector-facing :class:`~crmsync.ports.Projection` (needs a record key)."""
        key = self.record_key or self.identifiers.get("external_id")
        if not key:
            raise RecordValidationError("the record has no key (source id) to deliver it under", field="id")
        return Projection(
            kind=kind,
            record_key=key,
            payload=self.payload,
            identifiers=dict(self.identifiers),
            correlation_id=correlation_id,
        )


def _key_text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _loc_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Projector:
    """Projects records with one contract; compile once, call :meth:`project` for every record."""

    def __init__(self, contract: Contract, *, registry: TransformRegistry | None = None) -> None:
        self.contract = contract
        self._plan: Plan = compile_contract(contract, registry or DEFAULT_REGISTRY)
        self._validator = PayloadValidator(contract.validation)
        self._model = contract.canonical_model
        self._entity = f"{contract.source.system}.{contract.source.entity}"

    def project(self, source_record: Mapping[str, Any]) -> ProjectionResult:
        """Source record → :class:`ProjectionResult`; raises ``RecordValidationError(field=...)``."""
        record, record_key = self._record(source_record)
        warnings: list[str] = []
        canonical = self._inbound(record, record_key, warnings)
        payload, identifiers = self._outbound(canonical, record_key, warnings)
        return ProjectionResult(
            canonical, payload, identifiers, warnings, record_key, partial(self.source_fields, record)
        )

    def to_canonical(self, source_record: Mapping[str, Any]) -> CanonicalResult:
        """The inbound stage only (normalize): source record → canonical record."""
        record, record_key = self._record(source_record)
        warnings: list[str] = []
        canonical = self._inbound(record, record_key, warnings)
        return CanonicalResult(canonical, warnings, record_key, partial(self.source_fields, record))

    def to_payload(self, canonical: CanonicalRecord, *, record_key: str | None = None) -> ProjectionResult:
        """The outbound stage only (project): canonical record → validated target payload."""
        warnings: list[str] = []
        payload, identifiers = self._outbound(canonical, record_key, warnings)
        return ProjectionResult(canonical, payload, identifiers, warnings, record_key)

    def source_fields(self, source_record: Mapping[str, Any]) -> dict[str, Any]:
        """The flattened source values the inbound stage reads for this record (for previews).

        Works for records that fail validation too, up to the point of failure.
        """
        if not isinstance(source_record, Mapping):
            return {}
        record = source_record if isinstance(source_record, dict) else dict(source_record)
        state = RunState("inbound", recording=True)
        with contextlib.suppress(RecordValidationError):
            self._plan.inbound.run(self._plan.scope_for(record, state), state)
        return state.sources

    def _record(self, source_record: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        if not isinstance(source_record, Mapping):
            raise RecordValidationError(
                f"a {self._entity} record must be an object, got {type(source_record).__name__}",
                entity=self._entity,
            )
        record = source_record if isinstance(source_record, dict) else dict(source_record)
        return record, _key_text(self._plan.id_path.read(record))

    def _inbound(
        self, record: dict[str, Any], record_key: str | None, warnings: list[str]
    ) -> CanonicalRecord:
        plan = self._plan
        state = RunState("inbound", recording=False)
        state.warnings = warnings
        try:
            data = plan.inbound.run(plan.scope_for(record, state), state)
            return self._model.model_validate(data)
        except RecordValidationError as exc:
            raise self._annotate(exc, record_key) from None
        except ValidationError as exc:
            raise self._canonical_error(exc, record_key) from None

    def _outbound(
        self, canonical: CanonicalRecord, record_key: str | None, warnings: list[str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        plan = self._plan
        state = RunState("outbound", recording=False)
        state.warnings = warnings
        try:
            payload: dict[str, Any] = to_json_value(plan.outbound.run(canonical, state), warnings.append)
            self._validator.check(payload)
        except RecordValidationError as exc:
            raise self._annotate(exc, record_key) from None
        identifiers: dict[str, str] = {}
        for name, path in plan.identifiers:
            value = _key_text(path.read(payload))
            if value is not None:
                identifiers[name] = value
        return payload, identifiers

    def _annotate(self, exc: RecordValidationError, record_key: str | None) -> RecordValidationError:
        if exc.entity is None:
            exc.entity = self._entity
        if exc.record_key is None:
            exc.record_key = record_key
        return exc

    def _canonical_error(self, exc: ValidationError, record_key: str | None) -> RecordValidationError:
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc = tuple(first["loc"])
        field_name = self._plan.inbound.origin(loc) or _loc_text(loc)
        details = "; ".join(f"{_loc_text(tuple(e['loc']))}: {e['msg']}" for e in errors[:5])
        return RecordValidationError(
            f"the record does not fit the canonical {self.contract.canonical}: {details}",
            field=field_name,
            entity=self._entity,
            record_key=record_key,
            detail=[{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors],
        )
