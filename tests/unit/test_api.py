"""The HTTP API over a real service and store: auth, ingress acknowledgement rules, metrics."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crmsync.api.app import create_app
from tests.api_support import ADMIN, INGRESS, offline_service

H = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    svc = offline_service(tmp_path)
    with TestClient(create_app(svc)) as c:
        c.service = svc  # type: ignore[attr-defined]
        yield c
    svc.store.close()


def envelope(payload: object, message_id: str = "1") -> dict[str, object]:
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    return {
        "message": {"data": data, "messageId": message_id, "attributes": {}},
        "subscription": "projects/p/s",
    }


MESSAGE = {
    "notificationType": "Message",
    "projectKey": "p",
    "id": "m-1",
    "version": 1,
    "sequenceNumber": 2,
    "resource": {"typeId": "customer", "id": "c-1"},
    "resourceVersion": 2,
    "type": "CustomerFirstNameSet",
    "firstName": "Ada",
    "createdAt": "2026-11-23T00:00:00.000Z",
    "lastModifiedAt": "2026-11-23T00:00:00.000Z",
}


def test_health_is_open_everything_else_needs_the_admin_token(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/status").status_code == 401
    assert client.get("/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/status", headers=H).json()["flows"][0]["flow"] == "f"
    assert client.get("/metrics").status_code == 401
    assert client.get("/openapi.json").status_code == 200


def test_ingress_stores_then_acknowledges_and_deduplicates(client: TestClient) -> None:
    url = f"/ingress/shop?token={INGRESS}"
    first = client.post(url, json=envelope(MESSAGE))
    assert first.status_code == 200 and first.json() == {"stored": 1}
    assert client.post(url, json=envelope(MESSAGE, "redelivery")).json() == {"stored": 0}
    assert client.post(url, json=MESSAGE).json() == {"stored": 0}  # plain payload, same message id
    svc = client.service  # type: ignore[attr-defined]
    assert svc.store.inbox_counts()["pending"] == 1
    metrics = client.get("/metrics", headers=H).text
    assert 'crmsync_inbox_events{status="pending"} 1.0' in metrics


def test_ingress_rejects_malformed_input_with_the_reason(client: TestClient) -> None:
    url = f"/ingress/shop?token={INGRESS}"
    cases = [
        (b"{not json", "JSON"),
        (json.dumps({"message": {"data": "@@@", "messageId": "1"}}).encode(), "base64"),
        (json.dumps({**MESSAGE, "resource": {"typeId": "customer"}}).encode(), "resource.id"),
        (b"[1, 2]", ""),
    ]
    for body, reason in cases:
        r = client.post(url, content=body)
        assert r.status_code == 400, body
        assert r.json()["error"] == "invalid_payload" and reason in r.json()["reason"]
    assert client.post(url, json=envelope(MESSAGE)).status_code == 200  # still serving


def test_ingress_token_and_unknown_connection(client: TestClient) -> None:
    assert client.post("/ingress/shop", json=MESSAGE).status_code == 401
    assert (
        client.post("/ingress/shop", json=MESSAGE, headers={"Authorization": f"Bearer {INGRESS}"}).status_code
        == 200
    )
    assert client.post(f"/ingress/marketing?token={INGRESS}", json=MESSAGE).status_code == 404


def test_storage_failure_asks_for_redelivery(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = client.service  # type: ignore[attr-defined]

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(svc.store, "inbox_add", broken)
    r = client.post(f"/ingress/shop?token={INGRESS}", json=envelope(MESSAGE))
    assert r.status_code == 503  # Pub/Sub redelivers anything but 2xx


def test_dead_letter_endpoints_show_context_and_last_requests_and_discard(client: TestClient) -> None:
    from datetime import UTC, datetime

    from crmsync.store import DeadLetterIn, LogEntry

    svc = client.service  # type: ignore[attr-defined]
    [letter_id] = svc.store.dlq_add(
        [
            DeadLetterIn(
                flow="f",
                target="marketing:customer",
                kind="customer",
                record_key="c-9",
                reason="klaviyo: 400 invalid",
                recovery="permanent",
                error_type="RecordValidationError",
                attempts=1,
                field="organisation",
                status_code=400,
                payload={"source": {"id": "c-9"}},
                detail={"errors": [{"code": "invalid"}]},
                correlation_id="corr-9",
            )
        ]
    )
    svc.store.log_add(
        [
            LogEntry(datetime.now(UTC), "marketing", "POST", "https://x/api/profile-import", 503, 4.0, 1,
                     "create_or_update_profile", "corr-9", "customer", "c-9", "TransientError: busy"),
            LogEntry(datetime.now(UTC), "marketing", "POST", "https://x/api/profile-import", 400, 3.0, 2,
                     "create_or_update_profile", "corr-9", "customer", "c-9", "RecordValidationError: x"),
        ]
    )  # fmt: skip
    assert client.get("/dlq").status_code == 401
    listed = client.get("/dlq", headers=H).json()
    assert [d["id"] for d in listed] == [letter_id]
    shown = client.get(f"/dlq/{letter_id}", headers=H).json()
    assert shown["payload"] == {"source": {"id": "c-9"}} and shown["correlation_id"] == "corr-9"
    assert [(r["attempt"], r["status"]) for r in shown["requests"]] == [(1, 503), (2, 400)]
    assert client.get("/dlq/999", headers=H).status_code == 404
    assert client.get("/dlq?status=bogus", headers=H).status_code == 422
    assert client.post(f"/dlq/{letter_id}/discard", headers=H).json() == {"id": letter_id, "discarded": True}
    assert client.get("/dlq", headers=H).json() == []
    assert client.get("/dlq?status=discarded", headers=H).json()[0]["status"] == "discarded"
    log = client.get("/log", params={"correlation_id": "corr-9"}, headers=H).json()
    assert [e["status"] for e in log] == [503, 400]
    assert client.get("/log", headers=H).status_code == 200
    assert client.get("/log", params={"record": "nocolon"}, headers=H).status_code == 422
