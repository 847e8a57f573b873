"""The YAML config: ``${ENV}`` substitution, validation with the path of every bad setting.

A secret never has to be written in the file: every secret field accepts ``${VAR}`` (and
``${VAR:-default}``), resolved from the environment at load time. Errors name the setting's path
(``connections.shop.client_id``) and what was expected.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from crmsync.connectors import settings_model
from crmsync.errors import ConfigError
from crmsync.mapping.catalog import CatalogRules
from crmsync.mapping.consent import ConsentRules
from crmsync.mapping.orders import OrderEventRules
from crmsync.mapping.segments import OwnershipRules, SegmentationRules

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Entity = Literal["customer", "order", "category", "product"]


class HttpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listen: str = "127.0.0.1:8080"
    admin_token: SecretStr | None = None
    ingress_token: SecretStr | None = Field(
        default=None, description="if set, pushed deliveries must carry ?token=... or a Bearer token"
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        host, _, port = v.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"expected host:port, got {v!r}")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class LogSettings(BaseModel):
    """The sync log: every outbound request with its correlation id."""

    model_config = ConfigDict(extra="forbid")
    retention_days: float = Field(default=30, gt=0)
    pii: Literal["mask", "keep"] = Field(
        default="mask",
        description="mask: e-mail addresses, phone numbers and `redact_patterns` are masked in URLs and "
        "error texts; keep: stored as sent (sandboxes only). Secrets are always removed.",
    )
    redact_patterns: list[str] = Field(
        default_factory=list,
        description="extra regular expressions to mask (national ids, loyalty numbers...)",
    )
    redact_pii: bool | None = Field(default=None, description="deprecated: false means pii: keep")

    @field_validator("redact_patterns")
    @classmethod
    def _compile(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _legacy(self) -> LogSettings:
        if self.redact_pii is False:
            self.pii = "keep"
        return self


class RetrySettings(BaseModel):
    """The retry policy (see crmsync/engine/policy.py); defaults follow seed 003's schedule."""

    model_config = ConfigDict(extra="forbid")
    max_attempts: int = Field(default=6, ge=1)
    schedule_seconds: list[float] = Field(default_factory=lambda: [0.0, 1.0, 2.0, 5.0, 10.0], min_length=1)
    max_age_hours: float = Field(default=24, gt=0)


class FlowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_events: OrderEventRules = Field(
        default_factory=OrderEventRules, description="which order facts become which event metric"
    )
    ownership: OwnershipRules = Field(
        default_factory=OwnershipRules, description="attributes the CRM owns: never overwritten by the shop"
    )
    consent: ConsentRules = Field(
        default_factory=ConsentRules, description="who owns consent, and where the shop keeps it"
    )
    segmentation: SegmentationRules = Field(
        default_factory=SegmentationRules,
        description="store, locale, currency and channel on profiles; localized values; per-store lists",
    )
    catalog: CatalogRules = Field(
        default_factory=CatalogRules, description="locales, product URL template and price of catalog items"
    )
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    source: str
    target: str
    entities: list[Entity] = Field(default_factory=lambda: list[Entity](["customer"]), min_length=1)
    mapping: str = "default"
    bulk_threshold: int = Field(
        default=100, ge=1, description="changed records in one batch at or above which bulk jobs are used"
    )
    match_order: list[Literal["external_id", "email", "phone_number", "national_id"]] = Field(
        default_factory=list,
        description="before a customer's first write, look it up at the target by these identifiers in this "
        "priority order and link the match (empty: rely on the target's own matching, e.g. Klaviyo's); "
        "each must be an identifier of the mapping contract that the target can look up by",
    )
    batch_size: int = Field(default=10_000, ge=1, description="records per delivery batch in a bulk sync")
    poll_interval_seconds: float = Field(default=2.0, gt=0)
    lease_seconds: float = Field(
        default=30, gt=0, description="a dead worker's claims (records, the feed) pass to another after this"
    )


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store: str = "sqlite:///crmsync.db"
    connections: dict[str, dict[str, Any]]
    http: HttpSettings = Field(default_factory=HttpSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    rate_headroom: float = Field(
        default=0.95, gt=0, le=1, description="share of each target's published rate limit crmsync may use"
    )
    retry: RetrySettings = Field(default_factory=RetrySettings)
    flows: list[FlowSettings] = Field(min_length=1)

    def flow(self, name: str | None = None) -> FlowSettings:
        if name is None:
            return self.flows[0]
        for flow in self.flows:
            if flow.name == name:
                return flow
        raise ConfigError(f"no flow named {name!r}; flows: {', '.join(f.name for f in self.flows)}")


def substitute_env(value: Any, path: str = "", env: dict[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; a missing variable is an error."""
    environ = os.environ if env is None else env
    if isinstance(value, dict):
        return {k: substitute_env(v, f"{path}.{k}" if path else str(k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set", path=path)

        return _ENV.sub(repl, value)
    return value


def _loc(loc: tuple[int | str, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _raise(exc: ValidationError, prefix: str = "") -> None:
    problems = [f"{_loc(e['loc'], prefix) or '(top level)'}: {e['msg']}" for e in exc.errors()]
    raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def parse_config(raw: Any, *, env: dict[str, str] | None = None) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError("the config file must be a YAML mapping")
    data = substitute_env(raw, env=env)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        _raise(exc)
        raise  # unreachable
    for name, conn in config.connections.items():
        if not isinstance(conn, dict) or "type" not in conn:
            raise ConfigError("missing 'type'", path=f"connections.{name}")
        model = settings_model(str(conn["type"]), f"connections.{name}.type")
        try:
            model.model_validate(conn)
        except ValidationError as exc:
            _raise(exc, f"connections.{name}")
    for i, flow in enumerate(config.flows):
        for role in ("source", "target"):
            ref = getattr(flow, role)
            if ref not in config.connections:
                raise ConfigError(
                    f"unknown connection {ref!r}; defined: {', '.join(config.connections) or 'none'}",
                    path=f"flows[{i}].{role}",
                )
    return config


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> Config:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return parse_config(raw, env=env)
