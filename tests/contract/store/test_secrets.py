"""The database password never reaches url_for_display, reprs, errors or log records."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from crmsync.store import StateStore, StoreError

PASSWORD = "S3cr3t-p4ss/w%rd"


def _leaks(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = []
    for record in caplog.records:
        text = " ".join([record.getMessage(), repr(record.args), record.exc_text or ""])
        if PASSWORD in text or "S3cr3t" in text:
            found.append(f"{record.name}: {record.getMessage()[:200]}")
    return found


@pytest.mark.pg
def test_password_is_masked_everywhere(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    # The test server trusts local connections, so the password is accepted and ignored.
    url = sa.make_url(pg_url).set(password=PASSWORD).render_as_string(hide_password=False)
    assert PASSWORD in sa.make_url(url).password  # type: ignore[operator]
    caplog.set_level(logging.DEBUG)  # every logger, SQLAlchemy's and Alembic's included
    with StateStore.open(url) as store:
        store.ensure_records("customer", "commercetools", "id", ["a"])
        store.set_checkpoint("c", {"v": 1})
        with pytest.raises(StoreError) as failure:
            store.link("0" * 32, "customer", "x", "y", "z")
        shown = [store.url_for_display, repr(store), str(store.url), str(failure.value)]
    assert caplog.records, "logging was captured"
    assert not _leaks(caplog)
    for text in shown:
        assert "S3cr3t" not in text
    assert "***" in store.url_for_display
    assert StateStore.display(url) == store.url_for_display


def test_unreachable_server_error_hides_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = sa.URL.create(
        "postgresql", username="crmsync", password=PASSWORD, host="127.0.0.1", port=1, database="nowhere"
    ).render_as_string(hide_password=False)
    with pytest.raises(StoreError) as failure:
        StateStore.open(url)
    assert failure.value.recovery.value == "retry"
    assert "S3cr3t" not in str(failure.value)
    assert "127.0.0.1" in str(failure.value)
    assert not _leaks(caplog)
