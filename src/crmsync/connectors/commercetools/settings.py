"""Settings of one commercetools connection (the ``connections.<name>`` block of the config).

Secrets are :class:`pydantic.SecretStr` so they never show up in ``repr``, logs or error messages.
URLs are normalised here once (no trailing slash, ``/oauth/token`` stripped from the auth URL) so
the client can join paths without guessing.
"""

from __future__ import annotations

import re
from typing import Literal

import pydantic
from pydantic import Field, SecretStr, field_validator

_PROJECT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_SCOPE = re.compile(r"^\S+$")


def _normalise_base_url(value: str, setting: str) -> str:
    value = value.strip()
    if not re.match(r"^https?://[^/\s?#]+", value):
        raise ValueError(
            f"{setting} must be an http(s) URL such as https://api.europe-west1.gcp.commercetools.com"
        )
    if "?" in value or "#" in value:
        raise ValueError(f"{setting} must not contain a query string or fragment")
    return value.rstrip("/")


class CommercetoolsSettings(pydantic.BaseModel, extra="forbid"):
    """How to reach one commercetools project with an API client (client-credentials flow)."""

    type: Literal["commercetools"] = "commercetools"
    project_key: str
    api_url: str
    auth_url: str
    client_id: SecretStr
    client_secret: SecretStr
    scopes: list[str] | None = None  # None: omit `scope`, i.e. all scopes of the API client
    page_size: int = Field(500, ge=1, le=500)
    poll_overlap_seconds: float = Field(5.0, ge=0.0, le=3600.0)
    poll_max_events: int = Field(5000, ge=1, le=100_000)  # per poll_changes() call; the rest next call
    timeout_seconds: float = Field(30.0, gt=0.0, le=600.0)
    max_retries: int = Field(5, ge=0, le=20)
    backoff_base_seconds: float = Field(0.5, ge=0.0, le=60.0)
    backoff_max_seconds: float = Field(30.0, ge=0.0, le=600.0)
    # custom type given to a customer that has none when crmsync writes fields back (two-way flows)
    customer_type_key: str | None = Field(None, min_length=1, max_length=256)

    @field_validator("project_key")
    @classmethod
    def _check_project_key(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("project_key must not be empty")
        if not _PROJECT_KEY.match(value):
            raise ValueError("project_key may only contain letters, digits, '-' and '_'")
        return value

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        return _normalise_base_url(value, "api_url")

    @field_validator("auth_url")
    @classmethod
    def _check_auth_url(cls, value: str) -> str:
        value = _normalise_base_url(value, "auth_url")
        # Accept the full token endpoint as well as the host, as the vendor's own SDKs do.
        return value.removesuffix("/oauth/token")

    @field_validator("client_id", "client_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("scopes")
    @classmethod
    def _check_scopes(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("scopes must not be an empty list; omit it to request all scopes of the client")
        for scope in value:
            if not _SCOPE.match(scope):
                raise ValueError(
                    f"scope {scope!r} must be one non-empty word (e.g. view_customers:my-project)"
                )
        return value
