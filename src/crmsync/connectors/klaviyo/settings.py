"""Settings of one Klaviyo connection (the ``connections.<name>`` block of the config).

The API key is a private key (``pk_...``). It is kept as a :class:`pydantic.SecretStr` so that it
never shows in a repr, and validation errors are built with ``hide_input_in_errors`` so that a
malformed key is never echoed back in an error message or a log line.
"""

from __future__ import annotations

from typing import Literal

import pydantic
from pydantic import ConfigDict, Field, SecretStr

#: The revision every request sends. It is the ``info.version`` of the spec copy the connector was
#: built and contract-tested against (shared/specs/klaviyo/openapi-stable.json); Klaviyo keeps a
#: revision stable for about two years, so it is pinned rather than "latest".
PINNED_REVISION = "2026-07-15"


class KlaviyoSettings(pydantic.BaseModel):
    """Validated connection settings. Unknown keys are refused so that typos surface at load time."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: Literal["klaviyo"] = "klaviyo"
    api_key: SecretStr
    base_url: str = "https://a.klaviyo.com"
    revision: str = PINNED_REVISION
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_concurrency: int = Field(default=10, ge=1)
    max_retries: int = Field(default=6, ge=0, le=20)
    bulk_poll_interval_seconds: float = Field(default=0.5, gt=0)
    bulk_timeout_seconds: float = Field(default=600, gt=0)

    @pydantic.field_validator("api_key")
    @classmethod
    def _private_key(cls, value: SecretStr) -> SecretStr:
        # The message must not contain the value: it ends up in config errors shown to users.
        secret = value.get_secret_value()
        if not secret.startswith("pk_"):
            raise ValueError(
                "must be a Klaviyo private API key starting with 'pk_' "
                "(public site ids and OAuth tokens are not accepted here)"
            )
        if secret != secret.strip() or len(secret) < 4:
            raise ValueError("is malformed (surrounding whitespace or nothing after 'pk_')")
        return value

    @pydantic.field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://a.klaviyo.com")
        return value.rstrip("/")

    @pydantic.field_validator("revision")
    @classmethod
    def _revision_format(cls, value: str) -> str:
        date, _, suffix = value.partition(".")
        parts = date.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts) or (suffix and suffix != "pre"):
            raise ValueError("must look like YYYY-MM-DD or YYYY-MM-DD.pre")
        return value
