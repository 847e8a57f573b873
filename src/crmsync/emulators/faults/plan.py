"""What faults an emulator injects: :class:`FaultPlan`, its validation, and its two text forms.

A plan is immutable and validated on construction, so a bad value is refused where it is written
(constructor, ``PUT /__emulator/faults`` body, ``--faults`` spec) with a message naming the field,
never half-applied to a running emulator. :mod:`crmsync.emulators.faults` applies a plan to traffic.

Two text forms exist for one plan:

* JSON (``FaultPlan.from_mapping`` / ``to_dict``) — the admin endpoint's body, field names as below.
* a compact spec for command lines (``parse_fault_spec``)::

      error=0.2,throttle=10%,timeout=0.05,hang=2,latency=20,jitter=5,reset=0.01,after_effect=0.5,
      statuses=500/502/503,storm=30:5,retry_after=2,paths=/api/profile-import|/api/events,seed=1
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

#: Every emulator-only control endpoint lives below this prefix; it never sees faults, rate limits
#: or auth checks, and the real vendors have no such path.
ADMIN_PREFIX = "/__emulator"

_RATE_FIELDS = ("error_rate", "throttle_rate", "timeout_rate", "reset_rate", "after_effect_rate")
_FAILURE_RATES = ("error_rate", "throttle_rate", "timeout_rate", "reset_rate")


class FaultPlanError(ValueError):
    """A fault plan (or spec, or JSON body) that cannot be applied; the message names the field."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Which share of requests fails, and how.

    The four failure rates are shares of all in-scope requests and are drawn from one uniform number
    per request, so together they must not exceed 1. ``after_effect_rate`` is the share of 5xx,
    timeout and reset faults injected *after* the real handler ran (state changed, response lost) —
    the case that makes idempotency matter. Throttles are never after-effect: a 429 promises the
    request was not applied, exactly like the emulators' real rate limiter.

    ``storm_every_s`` / ``storm_seconds``: storms start ``storm_every_s`` after the plan was set and
    then every ``storm_every_s``; during each one every in-scope request gets a 429 whose
    ``Retry-After`` is the rest of the storm (rounded up). ``paths`` narrows the scope to requests
    whose path starts with one of the prefixes; empty means every API path of the emulator
    (commercetools: all but ``/oauth/*``; Klaviyo: ``/api/*``). Admin paths are never in scope.
    """

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    throttle_rate: float = 0.0
    storm_every_s: float | None = None
    storm_seconds: float = 0.0
    retry_after_s: int = 1
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    timeout_rate: float = 0.0
    timeout_hang_s: float = 30.0
    reset_rate: float = 0.0
    after_effect_rate: float = 0.0
    paths: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in _RATE_FIELDS:
            value = _number(name, getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise FaultPlanError(f"{name} must be between 0 and 1, got {value}")
        total = sum(getattr(self, name) for name in _FAILURE_RATES)
        if total > 1.0 + 1e-9:
            raise FaultPlanError(
                "error_rate + throttle_rate + timeout_rate + reset_rate must not exceed 1, "
                f"got {round(total, 6)}"
            )
        if not isinstance(self.error_statuses, tuple) or not self.error_statuses:
            raise FaultPlanError("error_statuses must be a non-empty tuple of 5xx statuses")
        for status in self.error_statuses:
            if isinstance(status, bool) or not isinstance(status, int) or not 500 <= status <= 599:
                raise FaultPlanError(f"error_statuses must be 5xx statuses (500..599), got {status!r}")
        if self.storm_every_s is None:
            if _number("storm_seconds", self.storm_seconds) != 0:
                raise FaultPlanError("storm_seconds needs storm_every_s")
        else:
            every = _number("storm_every_s", self.storm_every_s)
            length = _number("storm_seconds", self.storm_seconds)
            if not 0 < length < every:
                raise FaultPlanError(
                    f"a storm needs 0 < storm_seconds < storm_every_s, got {length} and {every}"
                )
        if isinstance(self.retry_after_s, bool) or not isinstance(self.retry_after_s, int):
            raise FaultPlanError(f"retry_after_s must be an integer, got {self.retry_after_s!r}")
        if not 0 <= self.retry_after_s <= 3600:
            raise FaultPlanError(f"retry_after_s must be between 0 and 3600, got {self.retry_after_s}")
        for name in ("latency_ms", "latency_jitter_ms"):
            if _number(name, getattr(self, name)) < 0:
                raise FaultPlanError(f"{name} must not be negative, got {getattr(self, name)}")
        if _number("timeout_hang_s", self.timeout_hang_s) <= 0:
            raise FaultPlanError(f"timeout_hang_s must be positive, got {self.timeout_hang_s}")
        if not isinstance(self.paths, tuple):
            raise FaultPlanError("paths must be a tuple of path prefixes")
        for path in self.paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise FaultPlanError(f"paths must be prefixes starting with '/', got {path!r}")
            if path.startswith(ADMIN_PREFIX):
                raise FaultPlanError(f"admin paths ({ADMIN_PREFIX}/...) cannot be faulted: {path!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise FaultPlanError(f"seed must be an integer or null, got {self.seed!r}")

    @property
    def active(self) -> bool:
        """Does this plan change any response (fault, storm or added latency)?"""
        return bool(
            self.error_rate
            or self.throttle_rate
            or self.timeout_rate
            or self.reset_rate
            or self.storm_every_s is not None
            or self.latency_ms
            or self.latency_jitter_ms
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (lists for tuples), as ``GET /__emulator/faults`` shows it."""
        out = asdict(self)
        out["error_statuses"] = list(self.error_statuses)
        out["paths"] = list(self.paths)
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultPlan:
        """A plan from its JSON form; missing fields take their defaults, unknown ones are refused."""
        if not isinstance(data, Mapping):
            raise FaultPlanError(f"a fault plan must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultPlanError(f"unknown fault plan field(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in ("error_statuses", "paths"):
                if not isinstance(value, list | tuple):
                    raise FaultPlanError(f"{name} must be a list, got {value!r}")
                values[name] = tuple(value)
            elif name in ("storm_every_s", "seed") and value is None:
                values[name] = None
            elif name in ("retry_after_s", "seed"):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise FaultPlanError(f"{name} must be an integer, got {value!r}")
                values[name] = value
            else:
                values[name] = float(_number(name, value))
        return cls(**values)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultPlanError(f"{name} must be a finite number, got {value!r}")
    return float(value)


# -- compact spec (command line) -------------------------------------------------------------------
_ALIASES: dict[str, str] = {
    "error": "error_rate",
    "statuses": "error_statuses",
    "throttle": "throttle_rate",
    "retry_after": "retry_after_s",
    "latency": "latency_ms",
    "jitter": "latency_jitter_ms",
    "timeout": "timeout_rate",
    "hang": "timeout_hang_s",
    "reset": "reset_rate",
    "after_effect": "after_effect_rate",
    "storm_every": "storm_every_s",
}
_SPEC_KEYS = sorted({*_ALIASES, *(f.name for f in fields(FaultPlan)), "storm"})


def parse_fault_spec(spec: str) -> FaultPlan:
    """``"error=0.2,throttle=10%,timeout=0.05,latency=20,reset=0.01,after_effect=0.5,seed=1"`` → plan.

    Keys are the short names above or the full field names. Rates accept a share (``0.2``) or a
    percentage (``20%``); ``statuses`` and ``paths`` list values separated by ``/`` resp. ``|``;
    ``storm=EVERY:SECONDS``. An empty spec, ``off`` or ``none`` is the plan without faults.
    """
    text = spec.strip()
    if text.lower() in ("", "off", "none"):
        return FaultPlan()
    values: dict[str, Any] = {}
    for item in text.split(","):
        key, sep, raw = (part.strip() for part in item.partition("="))
        if not sep or not key or not raw:
            raise FaultPlanError(f"fault spec item {item.strip()!r} is not KEY=VALUE")
        if key == "storm":
            every, colon, seconds = raw.partition(":")
            if not colon:
                raise FaultPlanError(f"storm must be EVERY:SECONDS (e.g. storm=30:5), got {raw!r}")
            _put(values, "storm_every_s", _spec_float("storm", every, rate=False), item)
            _put(values, "storm_seconds", _spec_float("storm", seconds, rate=False), item)
            continue
        name = _ALIASES.get(key, key)
        if name not in _SPEC_KEYS:
            raise FaultPlanError(f"unknown fault spec key {key!r}; known: {', '.join(_SPEC_KEYS)}")
        if name == "error_statuses":
            value: Any = tuple(_spec_int(key, part) for part in raw.split("/"))
        elif name == "paths":
            value = tuple(part.strip() for part in raw.split("|") if part.strip())
        elif name in ("retry_after_s", "seed"):
            value = _spec_int(key, raw)
        else:
            value = _spec_float(key, raw, rate=name in _RATE_FIELDS)
        _put(values, name, value, item)
    return FaultPlan(**values)


def _put(values: dict[str, Any], name: str, value: Any, item: str) -> None:
    if name in values:
        raise FaultPlanError(f"fault spec sets {name} twice (at {item.strip()!r})")
    values[name] = value


def _spec_float(key: str, raw: str, *, rate: bool) -> float:
    text = raw.strip()
    percent = rate and text.endswith("%")
    try:
        value = float(text[:-1] if percent else text)
    except ValueError:
        raise FaultPlanError(f"{key} must be a number, got {raw!r}") from None
    return value / 100 if percent else value


def _spec_int(key: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise FaultPlanError(f"{key} must be an integer, got {raw!r}") from None
