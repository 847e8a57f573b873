"""Loading contracts from YAML, with errors that name the place in the file.

Every failure is a :class:`~crmsync.errors.MappingError` (FATAL: a run cannot start with a broken
contract) whose message lists each problem as ``<path in the YAML>: <reason>``, e.g.
``outbound.location.address1.transforms[1]: unknown transform 'e165'; did you mean 'e164'?``.
YAML syntax errors carry line and column; duplicate keys — silently last-wins in plain YAML — are
errors too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from crmsync.errors import MappingError
from crmsync.mapping.contract import Contract
from crmsync.mapping.transforms import DEFAULT_REGISTRY, TransformRegistry

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
DEFAULT_CONTRACT = "commercetools-customer-to-klaviyo-profile"

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[misc]
    """Safe YAML loader that rejects duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key: let the default constructor report it
            duplicate = False
        if duplicate:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r} (line {mark.line + 1}, column {mark.column + 1})",
                mark,
            )
        seen[key] = key_node
    result: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
    return result


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def bundled_contracts() -> dict[str, Path]:
    """Contracts shipped with crmsync, by name (file stem); ``default`` is an alias."""
    found = {p.stem: p for p in sorted(CONTRACTS_DIR.glob("*.yaml"))}
    if DEFAULT_CONTRACT in found:
        found["default"] = found[DEFAULT_CONTRACT]
    return found


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("<") and part.endswith(">"):
            continue  # union tags of the mapping tree (<rule>, <group>, <path>)
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else part
    return out


def _messages(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        ctx = err.get("ctx") or {}
        if err["type"] == "value_error" and ctx.get("error") is not None:
            msg = str(ctx["error"])
        where = _format_loc(tuple(err["loc"]))
        for line in msg.splitlines() or [""]:
            entry = f"{where}: {line}" if where else line
            if entry not in lines:
                lines.append(entry)
    return lines


def parse_contract(
    data: Any, *, origin: str = "<contract>", registry: TransformRegistry | None = None
) -> Contract:
    """Validate already-parsed YAML/JSON data as a contract."""
    if not isinstance(data, dict):
        raise MappingError(
            f"{origin}: a contract must be a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return Contract.model_validate(data, context={"registry": registry or DEFAULT_REGISTRY})
    except ValidationError as exc:
        lines = _messages(exc)
        raise MappingError(
            f"{origin}: invalid mapping contract:\n  " + "\n  ".join(lines), detail=lines
        ) from None


def parse_contract_text(
    text: str, *, origin: str = "<contract>", registry: TransformRegistry | None = None
) -> Contract:
    """Parse YAML text (JSON is YAML too) into a validated contract."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise MappingError(f"{origin}: invalid YAML at {where}{problem}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{origin}: invalid YAML: {exc}") from None
    return parse_contract(data, origin=origin, registry=registry)


def load_contract(
    ref: str | os.PathLike[str] = "default", *, registry: TransformRegistry | None = None
) -> Contract:
    """Load a bundled contract by name (``"default"``) or a contract file by path; validated."""
    if isinstance(ref, str) and ref in (bundled := bundled_contracts()):
        path = bundled[ref]
    else:
        path = Path(ref)
        if not path.is_file():
            names = ", ".join(sorted(bundled_contracts()))
            raise MappingError(f"mapping contract not found: {os.fspath(ref)} (bundled contracts: {names})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read mapping contract {path}: {exc}") from None
    return parse_contract_text(text, origin=str(path), registry=registry)
