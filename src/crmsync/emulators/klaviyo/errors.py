"""JSON:API error documents as Klaviyo returns them.

Klaviyo answers every 4xx/5xx with ``{"errors": [{id, status, code, title, detail, source, links,
meta}]}``. The OpenAPI spec requires ``id, code, title, detail``; ``status``, ``links`` and ``meta``
appear in real responses and clients (the official commercetools plugin, our connector) read
``source.pointer`` and ``meta.duplicate_profile_id``, so the emulator always sends the full shape.

Codes and titles follow Klaviyo's Django REST Framework heritage (``invalid`` / "Invalid input.",
``not_found`` / "Not found.", ``throttled`` / "Request was throttled." ...). Exact ``detail`` strings
are best guesses where the public material is silent; clients must branch on ``status``/``code``/
``source``, never on ``detail``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

JSONAPI = "application/vnd.api+json"

TITLES: dict[str, str] = {
    "invalid": "Invalid input.",
    "parse_error": "Malformed request.",
    "not_authenticated": "Authentication credentials were not provided.",
    "authentication_failed": "Incorrect authentication credentials.",
    "permission_denied": "You do not have permission to perform this action.",
    "not_found": "Not found.",
    "method_not_allowed": "Method not allowed.",
    "conflict": "Conflict.",
    "duplicate_profile": "Conflict.",
    "request_too_large": "Request entity too large.",
    "unsupported_media_type": "Unsupported media type.",
    "throttled": "Request was throttled.",
    "error": "A server error occurred.",
}


class ApiError(Exception):
    """One failed request. Raised anywhere below a handler; the middleware renders it.

    ``pointer`` names the offending part of the body (``/data/attributes/email``), ``parameter``
    the offending query parameter or header (``filter``, ``page[size]``, ``revision``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        meta: dict[str, Any] | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.pointer = pointer
        self.parameter = parameter
        self.meta = meta or {}
        self.title = title or TITLES.get(code, "Error.")
        self.headers = headers or {}

    def to_object(self) -> dict[str, Any]:
        """The error object as it appears in the ``errors`` array (also used for import errors)."""
        source: dict[str, str] = {}
        if self.pointer is not None:
            source["pointer"] = self.pointer
        if self.parameter is not None:
            source["parameter"] = self.parameter
        return {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": source,
            "links": {},
            "meta": self.meta,
        }

    def response(self) -> web.Response:
        body = json.dumps({"errors": [self.to_object()]}, separators=(",", ":"))
        return web.Response(
            status=self.status, body=body.encode(), content_type=JSONAPI, headers=self.headers
        )


def invalid(detail: str, *, pointer: str | None = None, parameter: str | None = None) -> ApiError:
    """400 ``invalid``: the request body or a query parameter fails validation."""
    if pointer is None and parameter is None:
        pointer = "/data"
    return ApiError(400, "invalid", detail, pointer=pointer, parameter=parameter)


def not_found(detail: str) -> ApiError:
    return ApiError(404, "not_found", detail)


def conflict(detail: str, *, pointer: str | None = None) -> ApiError:
    """409 ``conflict``: JSON:API type or id mismatch between body and URL."""
    return ApiError(409, "conflict", detail, pointer=pointer)


def duplicate_profile(existing_id: str) -> ApiError:
    """409 ``duplicate_profile`` with the id of the profile that owns the identifier."""
    return ApiError(
        409,
        "duplicate_profile",
        "A profile already exists with one of these identifiers.",
        pointer="/data/attributes",
        meta={"duplicate_profile_id": existing_id},
    )


def too_large(limit_bytes: int, size: int) -> ApiError:
    return ApiError(
        413,
        "request_too_large",
        f"The request payload is {size} bytes; the maximum allowed payload size is {limit_bytes} bytes.",
        pointer="/data",
    )
