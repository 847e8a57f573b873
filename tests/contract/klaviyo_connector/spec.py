"""Validate request bodies against the request schema of their operation in Klaviyo's OpenAPI spec.

The spec document is registered in a ``referencing`` registry under one URI, so every ``$ref`` in it
(``#/components/schemas/...``) resolves against the document itself; the validator is OpenAPI 3.0's
(``nullable`` and friends). Klaviyo's schemas leave ``attributes`` open (no
``additionalProperties: false``), so :func:`unknown_attributes` additionally checks that every
attribute sent is one the operation declares: a misspelt field (``organisation``) would otherwise
pass the schema and be silently dropped by Klaviyo.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_URI = "urn:klaviyo:openapi-stable"
JSONAPI = "application/vnd.api+json"


@functools.cache
def load_spec(path: Path) -> dict[str, Any]:
    spec: dict[str, Any] = orjson.loads(path.read_bytes())
    return spec


def operation(spec: dict[str, Any], operation_id: str) -> tuple[str, str, dict[str, Any]]:
    """(method, path, operation object) of an operationId."""
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return method.upper(), path, op
    raise KeyError(operation_id)


def request_schema_ref(spec: dict[str, Any], operation_id: str) -> str:
    _, _, op = operation(spec, operation_id)
    return str(op["requestBody"]["content"][JSONAPI]["schema"]["$ref"])


def validator(spec: dict[str, Any], operation_id: str) -> OAS30Validator:
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4)
    )
    ref = request_schema_ref(spec, operation_id)
    return OAS30Validator({"$ref": f"{SPEC_URI}{ref}"}, registry=registry)


def errors(spec: dict[str, Any], operation_id: str, body: Any) -> list[str]:
    """Every schema violation of ``body``, as readable strings (empty when valid)."""
    found = validator(spec, operation_id).iter_errors(body)
    return [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in found]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def unknown_attributes(
    spec: dict[str, Any], resource_schema_name: str, attributes: dict[str, Any]
) -> set[str]:
    """Attribute names (and ``location.*`` names) the resource's schema does not declare."""
    resource = spec["components"]["schemas"][resource_schema_name]
    declared = _resolve(spec, resource["properties"]["attributes"])["properties"]
    unknown = {name for name in attributes if name not in declared}
    location = attributes.get("location")
    if isinstance(location, dict) and "location" in declared:
        loc_props = _resolve(spec, declared["location"])["properties"]
        unknown |= {f"location.{name}" for name in location if name not in loc_props}
    return unknown
