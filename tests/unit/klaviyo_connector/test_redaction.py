"""The API key appears only in the Authorization header: never in reprs, errors, records or logs."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pydantic
import pytest

from crmsync.connectors.klaviyo import KlaviyoConnector, KlaviyoSettings, create
from crmsync.errors import ConfigError, CredentialsError
from crmsync.ports import Projection, RequestRecord
from tests.unit.klaviyo_connector.conftest import API_KEY
from tests.unit.klaviyo_connector.fake_klaviyo import FakeKlaviyo, Reply, error_body

SECRET_PART = API_KEY.removeprefix("pk_")


def test_settings_never_show_the_key() -> None:
    settings = KlaviyoSettings(api_key=API_KEY)
    for text in (repr(settings), str(settings), str(settings.model_dump()), settings.model_dump_json()):
        assert SECRET_PART not in text
    assert settings.api_key.get_secret_value() == API_KEY


@pytest.mark.parametrize("bad", ["sk_live_TOPSECRETVALUE123", "TOPSECRETVALUE123", " pk_TOPSECRETVALUE123"])
def test_invalid_key_errors_do_not_echo_it(bad: str) -> None:
    with pytest.raises(pydantic.ValidationError) as direct:
        KlaviyoSettings(api_key=bad)
    assert "TOPSECRETVALUE123" not in str(direct.value)
    with pytest.raises(ConfigError) as config:
        create("shop-crm", {"api_key": bad})
    assert "TOPSECRETVALUE123" not in str(config.value)
    assert config.value.path == "connections.shop-crm"
    assert "api_key" in config.value.message
    # the pydantic error (which holds the input) is not chained into tracebacks
    assert config.value.__cause__ is None and config.value.__suppress_context__


def test_create_reports_every_bad_setting_by_name() -> None:
    with pytest.raises(ConfigError) as info:
        create("crm", {"api_key": "pk_x1", "max_concurrency": 0, "bogus": 1, "base_url": "ftp://x"})
    message = info.value.message
    for name in ("max_concurrency", "bogus", "base_url"):
        assert name in message


def test_create_builds_a_connector_with_defaults() -> None:
    connector = create("crm", {"type": "klaviyo", "api_key": API_KEY})
    assert connector.settings.revision == "2026-07-15"
    assert connector.settings.base_url == "https://a.klaviyo.com"
    assert SECRET_PART not in repr(connector) and SECRET_PART not in repr(connector.client)


async def test_key_stays_out_of_errors_records_and_logs(
    fake: FakeKlaviyo,
    make_connector: Callable[..., KlaviyoConnector],
    records: list[RequestRecord],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.on(
        "POST",
        "/api/profile-import",
        Reply(503, error_body(503, "error", "down")),
        Reply(401, error_body(401, "not_authenticated", "Incorrect authentication credentials.")),
    )
    fake.on("GET", "/api/profiles", Reply(500, error_body(500, "error", "boom")))
    connector = make_connector(max_retries=1)
    with caplog.at_level(logging.DEBUG):
        result = await connector.upsert(Projection("customer", "c-1", {"email": "a@b.com"}))
        with pytest.raises(Exception) as find_error:
            await connector.find("customer", {"email": "a@b.com"})

    assert isinstance(result.error, CredentialsError)
    texts = [
        str(result.error),
        repr(result.error),
        str(result.error.context()),
        str(result.error.detail),
        str(find_error.value),
        repr(connector),
        caplog.text,
        *(repr(r) for r in records),
    ]
    assert records and caplog.text  # something was recorded and logged
    for text in texts:
        assert SECRET_PART not in text
    assert all("a@b.com" not in r.url for r in records)  # filter values are masked too
    # the check above can fail: the key really was sent, in the header only
    assert all(c.headers["Authorization"].endswith(SECRET_PART) for c in fake.requests)
