"""The sync log's redaction policy: personal data never reaches the store unless the policy says so."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crmsync.config import LogSettings
from crmsync.errors import ConfigError
from crmsync.ports import RequestRecord
from crmsync.store import StateStore
from crmsync.synclog import RedactionPolicy, SyncLogWriter

URL = "https://a.klaviyo.com/api/profiles?filter=equals(email,%22Ann.Lee%40example.com%22)&phone=%2B4915112345678"
ERROR = "PermanentError: invalid profile ann.lee@example.com (+4915112345678), national id 123-45-6789"


def _record() -> RequestRecord:
    return RequestRecord(
        connection="kl",
        method="GET",
        url=URL,
        status=400,
        latency_ms=3.0,
        started_at=datetime(2026, 11, 23, tzinfo=UTC),
        attempt=1,
        error=ERROR,
        kind="customer",
        record_key="c-1",
    )


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")


def _written(store: StateStore, policy: RedactionPolicy) -> tuple[str, str | None]:
    writer = SyncLogWriter(store, policy=policy)
    writer(_record())
    assert writer.flush() == 1
    (entry,) = store.log_query(record_key="c-1")
    return entry.url, entry.error


def test_mask_removes_emails_phones_and_the_operators_patterns(store: StateStore) -> None:
    url, error = _written(store, RedactionPolicy("mask", (re.compile(r"\d{3}-\d{2}-\d{4}"),)))
    for text in (url, error or ""):
        assert "example.com" not in text.lower() and "4915112345678" not in text
    assert "123-45-6789" not in (error or "")
    assert url.startswith("https://a.klaviyo.com/api/profiles?filter=equals(email,")
    assert error is not None and error.startswith("PermanentError: invalid profile ***@***")


def test_keep_stores_what_was_sent(store: StateStore) -> None:
    assert _written(store, RedactionPolicy("keep")) == (URL, ERROR)


def test_config_defaults_to_mask_and_maps_the_legacy_switch() -> None:
    assert LogSettings().pii == "mask"
    assert LogSettings(redact_pii=False).pii == "keep"
    assert LogSettings(redact_patterns=[r"\d{3}-\d{2}-\d{4}"]).redact_patterns


def test_a_bad_pattern_is_a_config_error_naming_it(tmp_path: Path) -> None:
    from crmsync.config import load_config

    path = tmp_path / "crmsync.yaml"
    path.write_text("log:\n  redact_patterns: ['(unclosed']\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "redact_patterns" in str(info.value) and "(unclosed" in str(info.value)
