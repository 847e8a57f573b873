"""README command 1, scaled down: `crmsync demo` runs to completion and verifies every profile."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_runs_to_completion() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "crmsync.cli.main",
            "demo",
            "--customers",
            "400",
            "--orders",
            "500",
            "--changes",
            "40",
            "--change-rate",
            "40",
            "--stop-when-idle",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "summary" in out.stdout
    assert "0 differ" in out.stdout
    assert "(as expected)" in out.stdout and "(0 missing)" in out.stdout  # catalog and order events
