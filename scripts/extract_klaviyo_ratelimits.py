#!/usr/bin/env python3
"""Extract Klaviyo's per-operation rate limits from the OpenAPI spec into the emulator's table.

Every operation in Klaviyo's spec carries ``x-klaviyo-ratelimit: {burst: "75/s", steady: "750/m"
[, daily: "150/d"]}``. The emulator enforces these (burst = 1 s fixed window, steady = 1 min, daily =
1 day), but users' clones do not have the 3 MB spec, so the table is committed as
``src/crmsync/emulators/klaviyo/ratelimits.json``. Re-run this after updating the spec::

    python scripts/extract_klaviyo_ratelimits.py [--spec PATH] [--out PATH] [--check]

``--check`` writes nothing and exits 1 when the committed table differs from the spec.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT.parent / "shared" / "specs" / "klaviyo" / "openapi-stable.json"
DEFAULT_OUT = ROOT / "src" / "crmsync" / "emulators" / "klaviyo" / "ratelimits.json"
METHODS = ("get", "post", "put", "patch", "delete")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([smd])\s*$")
_UNITS = {"burst": "s", "steady": "m", "daily": "d"}


def _rate(operation_id: str, name: str, text: Any) -> int:
    match = _RATE.match(str(text))
    if match is None or match.group(2) != _UNITS[name]:
        raise ValueError(f"{operation_id}: unexpected {name} rate limit {text!r} (expected N/{_UNITS[name]})")
    return int(match.group(1))


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    """The rate-limit table for every operation of ``spec`` (sorted by path, then method)."""
    operations: list[dict[str, Any]] = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            limits = op.get("x-klaviyo-ratelimit")
            if not limits:
                continue
            operation_id = op["operationId"]
            operations.append(
                {
                    "operationId": operation_id,
                    "method": method.upper(),
                    "path": path,
                    "burst": _rate(operation_id, "burst", limits["burst"]),
                    "steady": _rate(operation_id, "steady", limits["steady"]),
                    "daily": _rate(operation_id, "daily", limits["daily"]) if "daily" in limits else None,
                }
            )
    operations.sort(key=lambda o: (o["path"], METHODS.index(o["method"].lower())))
    return {"revision": spec["info"]["version"], "operations": operations}


def render(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="Klaviyo openapi stable.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write ratelimits.json")
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on drift")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    text = render(extract(spec))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if json.loads(current or "null") != json.loads(text):
            print(f"{args.out} is out of date with {args.spec}; re-run without --check", file=sys.stderr)
            return 1
        print(f"{args.out} matches {args.spec}")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {len(json.loads(text)['operations'])} operations to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
