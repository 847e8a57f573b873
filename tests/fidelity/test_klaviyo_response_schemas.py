"""Every response body the emulator returns validates against the operation's schema in the spec.

Each request is matched to its operation in ``openapi-stable.json`` (revision 2026-07-15); the body
is validated with ``OAS30Validator`` against the response schema for its status (or the ``4XX``
``ClientError`` schema), with ``$ref`` resolution through a ``referencing`` registry over the whole
spec and format checking (``date-time``, ``uri``) on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from crmsync.emulators.klaviyo import KlaviyoEmulator

pytestmark = pytest.mark.specs

SPEC_URI = "urn:klaviyo-openapi"
HEADERS = {
    "Authorization": "Klaviyo-API-Key pk_schema",
    "revision": "2026-07-15",
    "Content-Type": "application/vnd.api+json",
}


class SpecValidator:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT4)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self.checked: list[tuple[str, int]] = []

    def _pointer(self, template: str, method: str, status: int) -> str:
        responses = self.spec["paths"][template][method.lower()]["responses"]
        key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
        response = responses[key]
        base = (
            "/paths/" + template.replace("~", "~0").replace("/", "~1") + f"/{method.lower()}/responses/{key}"
        )
        if "$ref" in response:
            base = response["$ref"][1:]
            response = self._resolve(response["$ref"])
        content = response.get("content")
        if not content:
            return ""
        media = next(iter(content))
        return f"{base}/content/{media.replace('/', '~1')}/schema"

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def validate(self, template: str, method: str, status: int, body: Any) -> None:
        pointer = self._pointer(template, method, status)
        if not pointer:
            assert body is None, f"{method} {template} {status} must have an empty body"
            self.checked.append((f"{method} {template}", status))
            return
        schema = {"$ref": f"{SPEC_URI}#{pointer}"}
        validator = OAS30Validator(schema, registry=self.registry, format_checker=oas30_format_checker)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, f"{method} {template} {status}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
        )
        self.checked.append((f"{method} {template}", status))


@pytest.fixture(scope="module")
def validator(specs_dir: Path) -> SpecValidator:
    spec = json.loads((specs_dir / "klaviyo" / "openapi-stable.json").read_text(encoding="utf-8"))
    return SpecValidator(spec)


Call = Callable[..., Any]


@pytest.fixture()
async def call(validator: SpecValidator) -> AsyncIterator[Call]:
    emulator = KlaviyoEmulator(job_step_seconds=0.01, seed=3)
    base = await emulator.start()
    session = aiohttp.ClientSession(headers=HEADERS)

    async def _call(
        method: str,
        template: str,
        path: str | None = None,
        body: Any = None,
        expect: int | None = 200,
        headers: dict[str, str] | None = None,
        **params: str,
    ) -> Any:
        """Send, check the status (``expect=None``: any), validate the body; return the document."""
        url = base + (path or template)
        async with session.request(method, url, json=body, params=params or None, headers=headers) as resp:
            text = await resp.text()
            doc = json.loads(text) if text else None
            status = resp.status
        if expect is not None:
            assert status == expect, (method, url, status, doc)
        validator.validate(template, method, status, doc)
        return doc if expect is not None else (status, doc)

    try:
        yield _call
    finally:
        await session.close()
        await emulator.stop()


def _profile(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": attributes}}


async def test_profile_operations(call: Call) -> None:
    created = await call(
        "POST",
        "/api/profiles",
        body=_profile(
            email="v@example.com",
            phone_number="+14155550199",
            external_id="v-1",
            location={"city": "Rome", "latitude": "41.9", "longitude": 12.5},
            properties={"nested": {"k": [1, 2]}},
        ),
        expect=201,
    )
    pid = created["data"]["id"]
    await call("POST", "/api/profiles", body=_profile(email="v@example.com"), expect=409)
    await call("POST", "/api/profiles", body=_profile(email="broken"), expect=400)
    await call("GET", "/api/profiles", **{"additional-fields[profile]": "subscriptions,predictive_analytics"})
    await call("GET", "/api/profiles", filter='equals(email,"v@example.com")', include="push-tokens")
    await call("GET", "/api/profiles", filter="bogus(", expect=400)
    await call(
        "GET", "/api/profiles/{id}", f"/api/profiles/{pid}", **{"additional-fields[profile]": "subscriptions"}
    )
    await call("GET", "/api/profiles/{id}", "/api/profiles/01NOPE0000000000000000000A", expect=404)
    patch = {"data": {"type": "profile", "id": pid, "attributes": {"first_name": "V", "properties": None}}}
    await call("PATCH", "/api/profiles/{id}", f"/api/profiles/{pid}", body=patch)
    await call("POST", "/api/profile-import", body=_profile(email="new@example.com"), expect=201)
    await call("POST", "/api/profile-import", body=_profile(email="new@example.com", title="Dr"), expect=200)


async def test_bulk_job_operations(call: Call) -> None:
    status_list = await call(
        "POST", "/api/lists", body={"data": {"type": "list", "attributes": {"name": "L"}}}, expect=201
    )
    list_id = status_list["data"]["id"]
    body = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {"type": "profile", "attributes": {"email": "j1@example.com"}},
                        {"type": "profile", "attributes": {"email": "nope"}},
                    ]
                }
            },
            "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
        }
    }
    job = await call("POST", "/api/profile-bulk-import-jobs", body=body, expect=202)
    job_id = job["data"]["id"]
    for _ in range(200):
        doc = await call(
            "GET", "/api/profile-bulk-import-jobs/{job_id}", f"/api/profile-bulk-import-jobs/{job_id}"
        )
        if doc["data"]["attributes"]["status"] == "complete":
            break
        await asyncio.sleep(0.01)
    await call(
        "GET",
        "/api/profile-bulk-import-jobs/{job_id}",
        f"/api/profile-bulk-import-jobs/{job_id}",
        include="lists",
    )
    await call("GET", "/api/profile-bulk-import-jobs")
    errors = await call(
        "GET",
        "/api/profile-bulk-import-jobs/{id}/import-errors",
        f"/api/profile-bulk-import-jobs/{job_id}/import-errors",
    )
    assert len(errors["data"]) == 1
    await call(
        "GET",
        "/api/profile-bulk-import-jobs/{id}/profiles",
        f"/api/profile-bulk-import-jobs/{job_id}/profiles",
    )
    await call("GET", "/api/lists")
    await call(
        "GET", "/api/lists/{id}", f"/api/lists/{list_id}", **{"additional-fields[list]": "profile_count"}
    )
    await call("GET", "/api/lists/{id}/profiles", f"/api/lists/{list_id}/profiles")


async def test_event_and_metric_operations(call: Call) -> None:
    event = {
        "data": {
            "type": "event",
            "attributes": {
                "properties": {"OrderId": "1"},
                "value": 10,
                "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": "e@example.com"}}},
            },
        }
    }
    await call("POST", "/api/events", body=event, expect=202)
    metrics = await call("GET", "/api/metrics")
    metric_id = metrics["data"][0]["id"]
    await call("GET", "/api/metrics/{id}", f"/api/metrics/{metric_id}")
    events = await call(
        "GET", "/api/events", filter=f'equals(metric_id,"{metric_id}")', include="metric,profile"
    )
    await call("GET", "/api/events/{id}", f"/api/events/{events['data'][0]['id']}")
    await call("POST", "/api/events", body={"data": {"type": "event", "attributes": {}}}, expect=400)


async def test_throttled_unauthenticated_and_revision_errors(call: Call, validator: SpecValidator) -> None:
    body = {"data": {"type": "list", "attributes": {"name": "x"}}}
    statuses = []
    for _ in range(21):  # create_list allows 10/s: 21 quick calls cannot all fit in two windows
        status, doc = await call("POST", "/api/lists", body=body, expect=None)
        statuses.append(status)
        if status == 429:
            assert doc["errors"][0]["code"] == "throttled"
            break
    assert statuses[-1] == 429
    assert ("POST /api/lists", 429) in validator.checked
    await call("GET", "/api/profiles", headers={"Authorization": "nope"}, expect=401)
    await call("GET", "/api/profiles", headers={"revision": "1999-01-01"}, expect=400)
