"""One set of contract tests, run against SQLite (a file in tmp_path) and PostgreSQL (``pg_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmsync.store import StateStore


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'store.db'}"
    url = request.getfixturevalue("pg_url")
    assert isinstance(url, str)
    return url


@pytest.fixture()
def store(store_url: str) -> Iterator[StateStore]:
    with StateStore.open(store_url) as opened:
        yield opened


def assert_utc(value: datetime, *, near: datetime | None = None) -> None:
    """Timezone-aware, in UTC, and (optionally) within a minute of ``near``."""
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)
    if near is not None:
        assert abs(value - near) < timedelta(minutes=1)


def now() -> datetime:
    return datetime.now(UTC)
