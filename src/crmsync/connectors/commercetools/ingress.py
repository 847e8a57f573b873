"""Parse one pushed commercetools delivery (pure functions, no I/O).

Accepted shapes, detected from the body:

* a Google Pub/Sub push envelope ``{"message": {"data": <base64>, "attributes"?, "messageId"}, ...}``
  whose decoded ``data`` is one of the payloads below (or, with ``ce-*`` attributes, the ``data``
  of a CloudEvent in Pub/Sub binary mode);
* a commercetools Platform payload (``notificationType``: Message, ResourceCreated/Updated/Deleted);
* a CloudEvent 1.0 in structured mode (``specversion``; ``data`` is the Platform payload), or in
  HTTP binary mode (``ce-*`` headers, the body is ``data``).

Resources we do not synchronise yield an empty list (the receiver acknowledges them). Anything
malformed raises :class:`crmsync.errors.IngressError` whose ``reason`` says what was wrong; no
other exception escapes, whatever the input.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from crmsync.connectors.commercetools.events import (
    RESOURCE_KINDS,
    json_type,
    platform_payload_to_events,
    req_object,
    req_str,
)
from crmsync.errors import IngressError
from crmsync.ports import ChangeEvent

MAX_BODY_BYTES = 16 * 1024 * 1024  # above the API's 16 MB document limit plus base64 overhead is abuse
CE_PREFIX = "com.commercetools."
CE_CATEGORIES = ("message", "change")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(raw: bytes | str, what: str) -> Any:
    """``json.loads`` whose every failure becomes an IngressError naming ``what`` and the cause."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise IngressError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise IngressError(f"{what} is not valid JSON: not UTF-8 text") from None
    except RecursionError:
        raise IngressError(f"{what} is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with more digits than Python converts
        detail = str(exc)
        if "digits" in detail:
            detail = "a number has too many digits"
        raise IngressError(f"{what} is not valid JSON: {detail[:120]}") from None


def parse_ingress(body: bytes, headers: Mapping[str, str]) -> list[ChangeEvent]:
    """Parse one delivery body (see the module docstring for the accepted shapes)."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise IngressError(f"body must be bytes, got {type(body).__name__}")
    raw = bytes(body)
    if len(raw) > MAX_BODY_BYTES:
        raise IngressError(f"body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise IngressError("body is empty")
    lowered = {str(k).lower(): v for k, v in headers.items()}
    if "ce-specversion" in lowered and str(lowered.get("ce-type", "")).startswith(CE_PREFIX):
        # HTTP binary mode. Other ce-* headers (e.g. Eventarc's Pub/Sub "messagePublished" event,
        # whose body is the Pub/Sub envelope) describe the transport: the body decides below.
        return _binary_cloudevent(_ce_attributes(lowered, "header"), load_json(raw, "body"), "body")
    document = load_json(raw, "body")
    if not isinstance(document, dict):
        raise IngressError(f"body is not a JSON object (got {json_type(document)})")
    if "message" in document and "notificationType" not in document and "specversion" not in document:
        return _pubsub(document)
    return _payload(document, "body")


def _payload(document: Mapping[str, Any], what: str, where: str = "") -> list[ChangeEvent]:
    if "notificationType" in document:
        return platform_payload_to_events(document, where)
    if "specversion" in document:
        return _structured_cloudevent(document, where)
    raise IngressError(
        f"{what} is not a commercetools payload: expected 'notificationType' (Platform format), "
        "'specversion' (CloudEvents) or 'message' (Pub/Sub push envelope)"
    )


# -- Google Pub/Sub push -------------------------------------------------------------------------
def _decode_base64(data: str) -> bytes:
    text = data.strip()
    padded = text + "=" * (-len(text) % 4)
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise IngressError("message.data is not valid base64")


def _pubsub(envelope: Mapping[str, Any]) -> list[ChangeEvent]:
    message = req_object(envelope, "message")
    data = message.get("data")
    if data is None:
        raise IngressError("missing field 'message.data'")
    if not isinstance(data, str):
        raise IngressError(f"field 'message.data' must be a base64 string, got {json_type(data)}")
    attributes = message.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        raise IngressError(f"field 'message.attributes' must be an object, got {json_type(attributes)}")
    decoded = _decode_base64(data)
    if not decoded.strip():
        raise IngressError("message.data is empty")
    inner = load_json(decoded, "message.data")
    if attributes and any(str(k).lower() == "ce-specversion" for k in attributes):
        lowered = {str(k).lower(): v for k, v in attributes.items()}
        return _binary_cloudevent(_ce_attributes(lowered, "attribute"), inner, "message.data")
    if not isinstance(inner, dict):
        raise IngressError(f"message.data is not a JSON object (got {json_type(inner)})")
    return _payload(inner, "message.data")


# -- CloudEvents ---------------------------------------------------------------------------------
def _ce_attributes(lowered: Mapping[str, Any], source: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key, value in lowered.items():
        if key.startswith("ce-"):
            if not isinstance(value, str):
                raise IngressError(f"CloudEvents {source} '{key}' must be a string, got {json_type(value)}")
            attributes[key[3:]] = value
    return attributes


def _binary_cloudevent(attributes: dict[str, Any], data: Any, what: str) -> list[ChangeEvent]:
    if data is not None and not isinstance(data, dict):
        raise IngressError(f"{what} is not a JSON object (got {json_type(data)})")
    return _structured_cloudevent({**attributes, "data": data})


def _parse_ce_type(event_type: str) -> tuple[str, str, str]:
    """``com.commercetools.<typeId>.<message|change>.<Name>`` → (typeId, category, name)."""
    parts = event_type[len(CE_PREFIX) :].split(".") if event_type.startswith(CE_PREFIX) else []
    if len(parts) != 3 or parts[1] not in CE_CATEGORIES or not parts[0] or not parts[2]:
        raise IngressError(
            f"unsupported CloudEvents type {event_type[:100]!r}: expected "
            "'com.commercetools.<resource>.message.<MessageType>' or '...change.<ChangeType>'"
        )
    return parts[0], parts[1], parts[2]


def _structured_cloudevent(event: Mapping[str, Any], where: str = "") -> list[ChangeEvent]:
    version = event.get("specversion")
    if version != "1.0":
        shown = version[:20] if isinstance(version, str) else json_type(version)
        raise IngressError(f"unsupported CloudEvents specversion {shown!r} (expected '1.0')")
    type_id, category, name = _parse_ce_type(req_str(event, "type", where, max_length=200))
    if type_id not in RESOURCE_KINDS:
        return []
    payload = dict(req_object(event, "data", where))
    expected = "Message" if category == "message" else name
    actual = payload.setdefault("notificationType", expected)
    if actual != expected:
        raise IngressError(
            f"field '{where}data.notificationType' is {str(actual)[:64]!r} "
            f"but the CloudEvents type says {expected!r}"
        )
    if category == "message" and payload.get("type", name) != name:
        raise IngressError(f"field '{where}data.type' does not match the CloudEvents type {name[:64]!r}")
    return platform_payload_to_events(payload, f"{where}data.")
