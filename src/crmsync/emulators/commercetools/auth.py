"""OAuth2 client-credentials flow and bearer-token checks, as the platform's auth service does them.

* ``POST /oauth/token`` with HTTP Basic ``client_id:client_secret`` (any non-empty pair is accepted),
  ``grant_type=client_credentials`` in the form body or the query, optional space-separated ``scope``.
  Answer: ``{"access_token", "expires_in": 172800, "scope": "<space separated>", "token_type": "Bearer"}``.
* API calls need ``Authorization: Bearer <token>``; unknown, expired or missing → 401 ``invalid_token``.
* A token's scopes are bound to a project key: calling another project, or an endpoint none of the
  token's scopes allows, is 403 ``insufficient_scope``.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
from dataclasses import dataclass

from . import errors

TOKEN_LIFETIME_SECONDS = 172_800
_SCOPE = re.compile(r"^(?P<name>[a-z_]+):(?P<project>[A-Za-z0-9_-]+)(?::(?P<store>[A-Za-z0-9_-]+))?$")
_STANDALONE_SCOPES = {"openid"}


@dataclass(frozen=True)
class Token:
    value: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float

    def grants(self, project_key: str, accepted: tuple[str, ...]) -> bool:
        """Does any project-wide scope of this token for ``project_key`` belong to ``accepted``?"""
        for scope in self.scopes:
            match = _SCOPE.match(scope)
            if (
                match
                and match["project"] == project_key
                and match["store"] is None
                and match["name"] in accepted
            ):
                return True
        return False


def _oauth_error(status: int, error: str, message: str) -> errors.CtApiError:
    return errors.CtApiError(status, error, message, oauth_error=error)


def parse_basic(header: str | None) -> str:
    """The client id from an HTTP Basic header; 401 ``invalid_client`` unless id and secret are set."""
    if not header or not header.lower().startswith("basic "):
        raise errors.invalid_client()
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise errors.invalid_client() from None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep or not client_id or not client_secret:
        raise errors.invalid_client()
    return client_id


class TokenStore:
    """Issued access tokens of one emulated project."""

    def __init__(self, project_key: str, lifetime: int = TOKEN_LIFETIME_SECONDS) -> None:
        self.project_key = project_key
        self.lifetime = lifetime
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def _check_scopes(self, requested: str | None) -> tuple[str, ...]:
        if requested is None or not requested.strip():
            return (f"manage_project:{self.project_key}",)
        scopes = tuple(dict.fromkeys(requested.split()))
        for scope in scopes:
            if scope in _STANDALONE_SCOPES:
                continue
            match = _SCOPE.match(scope)
            if match is None or match["project"] != self.project_key:
                raise _oauth_error(400, "invalid_scope", "Malformed parameter: scope: Invalid scope.")
        return scopes

    def issue(
        self, authorization: str | None, grant_type: str | None, scope: str | None
    ) -> dict[str, object]:
        client_id = parse_basic(authorization)
        if not grant_type:
            raise _oauth_error(400, "invalid_request", "Missing required parameter: grant_type.")
        if grant_type != "client_credentials":
            raise _oauth_error(
                400, "unsupported_grant_type", f"Grant type '{grant_type}' is not supported by this emulator."
            )
        scopes = self._check_scopes(scope)
        token = Token(secrets.token_urlsafe(24), client_id, scopes, time.monotonic() + self.lifetime)
        with self._lock:
            self._tokens[token.value] = token
        return {
            "access_token": token.value,
            "expires_in": self.lifetime,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }

    def authenticate(self, authorization: str | None) -> Token:
        """The token behind an ``Authorization: Bearer`` header, or 401 ``invalid_token``."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise errors.invalid_token()
        token = self._tokens.get(authorization[7:].strip())
        if token is None or token.expires_at <= time.monotonic():
            raise errors.invalid_token()
        return token

    def introspect(self, authorization: str | None, value: str | None) -> dict[str, object]:
        parse_basic(authorization)
        token = self._tokens.get(value or "")
        if token is None or token.expires_at <= time.monotonic():
            return {"active": False}
        expires_ms = int((time.time() + (token.expires_at - time.monotonic())) * 1000)
        return {
            "active": True,
            "scope": " ".join(token.scopes),
            "exp": expires_ms,
            "client_id": token.client_id,
        }

    def require(self, token: Token, project_key: str, accepted: tuple[str, ...]) -> None:
        if not token.grants(project_key, accepted):
            raise errors.insufficient_scope([f"{name}:{project_key}" for name in accepted])

    def expire_all(self) -> None:
        """Invalidate every issued token (clients must fetch a new one)."""
        with self._lock:
            self._tokens.clear()
