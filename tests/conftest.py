"""Shared fixtures: where the vendor specs are, and a real PostgreSQL server for the pg tier.

* ``specs_dir`` — ``../shared/specs`` beside the clone (or ``CRMSYNC_SPECS_DIR``). A user's clone may
  not have it: the test is skipped with a plain reason. Under ``CI=true`` it must be there: fail.
* ``pg_url`` — ``CRMSYNC_TEST_PG_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``. Each test
  session creates its own database and drops it afterwards. Under ``CI=true`` an unreachable
  server fails the run: the PostgreSQL tier is never skipped silently in CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _specs_dir() -> Path:
    env = os.environ.get("CRMSYNC_SPECS_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "specs"


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    path = _specs_dir()
    if not (path / "klaviyo" / "openapi-stable.json").is_file():
        msg = (
            f"vendor specs not found at {path} (expected ../shared/specs beside the clone, "
            "or set CRMSYNC_SPECS_DIR)"
        )
        if IN_CI:
            pytest.fail(msg + " — required under CI=true")
        pytest.skip(msg)
    return path


def _pg_admin_url() -> str:
    return os.environ.get("CRMSYNC_TEST_PG_URL", DEFAULT_PG_URL)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of the admin database; fails under CI when the server is down, else skips with the reason."""
    import psycopg

    url = _pg_admin_url()
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("select 1")
    except Exception as exc:  # pragma: no cover - depends on the machine
        msg = f"PostgreSQL not reachable at {url}: {exc}"
        if IN_CI:
            pytest.fail(msg + " — the PostgreSQL tier is required under CI=true")
        pytest.skip(msg)
    return url


@pytest.fixture()
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (SQLAlchemy URL, psycopg 3 driver)."""
    import psycopg

    name = f"crmsync_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    base = pg_server_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
