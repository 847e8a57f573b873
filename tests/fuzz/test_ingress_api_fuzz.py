"""Hostile input at the real HTTP ingress: never a 5xx, always a specific reason, service keeps serving."""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.api.app import create_app
from tests.api_support import INGRESS, offline_service

URL = f"/ingress/shop?token={INGRESS}"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
platform_like = st.fixed_dictionaries(
    {
        "notificationType": st.sampled_from(
            ["Message", "ResourceCreated", "ResourceUpdated", "ResourceDeleted", "X"]
        ),
        "resource": st.fixed_dictionaries(
            {"typeId": st.sampled_from(["customer", "order", 1]), "id": json_values}
        ),
    },
    optional={
        "id": json_values,
        "version": json_values,
        "sequenceNumber": json_values,
        "resourceVersion": json_values,
        "type": json_values,
        "createdAt": json_values,
        "modifiedAt": json_values,
        "customer": json_values,
    },
)


def as_envelope(payload: object) -> bytes:
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    return json.dumps({"message": {"data": data, "messageId": "1"}, "subscription": "s"}).encode()


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    platform_like.map(lambda v: json.dumps(v).encode()),
    platform_like.map(as_envelope),
    json_values.map(as_envelope),
)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with tempfile.TemporaryDirectory() as tmp:
        svc = offline_service(Path(tmp))
        with TestClient(create_app(svc)) as c:
            yield c
        svc.store.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_any_body_gets_200_or_a_specific_400(client: TestClient, body: bytes) -> None:
    r = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (200, 400), (r.status_code, r.text)
    if r.status_code == 400:
        reason = r.json()["reason"]
        assert isinstance(reason, str) and len(reason) > 5
    assert client.get("/health").status_code == 200
