"""The contract's JSON Schema, shipped as ``contract.schema.json`` for editors and CI.

Regenerate after changing :mod:`crmsync.mapping.contract`::

    .venv/bin/python -m crmsync.mapping.schema          # rewrite the shipped file
    .venv/bin/python -m crmsync.mapping.schema --check  # exit 1 when it is stale

A unit test fails while the shipped file differs from ``Contract.model_json_schema()``.
YAML contracts can point editors at it with
``# yaml-language-server: $schema=<path>/contract.schema.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crmsync.mapping.contract import Contract

SCHEMA_PATH = Path(__file__).resolve().parent / "contract.schema.json"


def contract_json_schema() -> dict[str, Any]:
    return Contract.model_json_schema()


def render_contract_schema() -> str:
    """The schema as the shipped file's text (stable formatting, trailing newline)."""
    return json.dumps(contract_json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_contract_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(render_contract_schema(), encoding="utf-8")
    return path


def schema_is_current(path: Path = SCHEMA_PATH) -> bool:
    try:
        shipped: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(shipped == contract_json_schema())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate or check contract.schema.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped schema is stale")
    parser.add_argument("--path", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args(argv)
    if args.check:
        if schema_is_current(args.path):
            return 0
        print(f"{args.path} is stale; run: python -m crmsync.mapping.schema", file=sys.stderr)
        return 1
    print(write_contract_schema(args.path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
