"""The connector's rate-limit table equals each operation's x-klaviyo-ratelimit in the vendor spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmsync.connectors.klaviyo.limits import OPERATION_LIMITS

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse(value: str) -> tuple[int, float]:
    count, _, unit = value.partition("/")
    return int(count), UNITS[unit]


@pytest.mark.specs
def test_every_operation_limit_matches_the_spec(specs_dir: Path) -> None:
    spec = json.loads((specs_dir / "klaviyo" / "openapi-stable.json").read_text(encoding="utf-8"))
    published = {
        op["operationId"]: op["x-klaviyo-ratelimit"]
        for item in spec["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op and "x-klaviyo-ratelimit" in op
    }
    for operation, limits in OPERATION_LIMITS.items():
        assert operation in published, f"{operation} is not a Klaviyo operation"
        want = (parse(published[operation]["burst"]), parse(published[operation]["steady"]))
        assert limits == want, (operation, limits, want)
