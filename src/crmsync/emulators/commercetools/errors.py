"""The platform's error envelope and the error constructors the emulator uses.

Every 4xx/5xx body is ``{"statusCode", "message", "errors": [{"code", "message", ...}]}`` where
``message`` repeats the first error's message; OAuth failures add ``error`` (and sometimes
``error_description``) — the ``AuthErrorResponse`` shape. Message texts follow the live API where known
(e.g. ``Object <id> has a different version than expected. Expected: 1 - Actual: 2.``).
"""

from __future__ import annotations

import json
from typing import Any


class CtApiError(Exception):
    """An error the HTTP layer renders as the platform's error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        oauth_error: str | None = None,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.oauth_error = oauth_error
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, **self.fields}
        body: dict[str, Any] = {"statusCode": self.status, "message": self.message, "errors": [error]}
        if self.oauth_error is not None:
            body["error"] = self.oauth_error
            if self.oauth_error != self.message:
                body["error_description"] = self.message
        return body


def resource_not_found(ident: str, *, by: str = "ID") -> CtApiError:
    return CtApiError(404, "ResourceNotFound", f"The Resource with {by} '{ident}' was not found.")


def endpoint_not_found(path: str) -> CtApiError:
    return CtApiError(404, "ResourceNotFound", f"The endpoint '{path}' was not found.")


def concurrent_modification(resource_id: str, expected: int, actual: int) -> CtApiError:
    return CtApiError(
        409,
        "ConcurrentModification",
        f"Object {resource_id} has a different version than expected. "
        f"Expected: {expected} - Actual: {actual}.",
        currentVersion=actual,
    )


def duplicate_field(field: str, value: Any, message: str | None = None) -> CtApiError:
    text = message or f"A duplicate value '{json.dumps(value)}' exists for field '{field}'."
    return CtApiError(400, "DuplicateField", text, field=field, duplicateValue=value)


def invalid_input(message: str) -> CtApiError:
    return CtApiError(400, "InvalidInput", message)


def invalid_operation(message: str) -> CtApiError:
    return CtApiError(400, "InvalidOperation", message)


def invalid_field(field: str, value: Any, message: str, allowed: list[Any] | None = None) -> CtApiError:
    extra: dict[str, Any] = {"field": field, "invalidValue": value}
    if allowed is not None:
        extra["allowedValues"] = allowed
    return CtApiError(400, "InvalidField", message, **extra)


def required_field(field: str, message: str | None = None) -> CtApiError:
    return CtApiError(400, "RequiredField", message or f"The field '{field}' is required.", field=field)


def invalid_json(detail: str) -> CtApiError:
    """Body shape problems: the platform answers ``InvalidJsonInput`` with a path in the detail."""
    return CtApiError(
        400, "InvalidJsonInput", "Request body does not contain valid JSON.", detailedErrorMessage=detail
    )


def referenced_resource_not_found(
    type_id: str, *, id: str | None = None, key: str | None = None
) -> CtApiError:
    which = f"ID '{id}'" if id is not None else f"key '{key}'"
    extra: dict[str, Any] = {"typeId": type_id}
    if id is not None:
        extra["id"] = id
    if key is not None:
        extra["key"] = key
    return CtApiError(
        400,
        "ReferencedResourceNotFound",
        f"The referenced object of type '{type_id}' with {which} was not found. It either doesn't exist, "
        "or it can't be accessed from this endpoint (e.g., if the endpoint filters by store or customer "
        "account).",
        **extra,
    )


def malformed_parameter(name: str, detail: str) -> CtApiError:
    return CtApiError(400, "InvalidInput", f"Malformed parameter: {name}: {detail}")


def invalid_token() -> CtApiError:
    return CtApiError(401, "invalid_token", "invalid_token", oauth_error="invalid_token")


def invalid_client(
    message: str = "Please provide valid client credentials using HTTP Basic Authentication.",
) -> CtApiError:
    return CtApiError(
        401, "invalid_client", message, oauth_error="invalid_client", headers={"WWW-Authenticate": "Basic"}
    )


def insufficient_scope(required: list[str]) -> CtApiError:
    return CtApiError(
        403,
        "insufficient_scope",
        "Insufficient scope. One of the following scopes is missing: " + ", ".join(required) + ".",
        oauth_error="insufficient_scope",
    )


def method_not_allowed(method: str, path: str, allowed: list[str]) -> CtApiError:
    return CtApiError(
        405,
        "InvalidOperation",
        f"The method '{method}' is not allowed for '{path}'. Allowed: {', '.join(allowed)}.",
        headers={"Allow": ", ".join(allowed)},
    )
