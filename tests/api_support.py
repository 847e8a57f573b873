"""A Service on a real SQLite store whose connectors point at unreachable URLs (no network used)."""

from __future__ import annotations

from pathlib import Path

from crmsync.config import parse_config
from crmsync.service import Service

ADMIN = "admin-token"
INGRESS = "ingress-token"


def offline_service(tmp: Path) -> Service:
    cfg = {
        "store": f"sqlite:///{tmp / 'api.db'}",
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "p",
                "api_url": "http://127.0.0.1:9",
                "auth_url": "http://127.0.0.1:9",
                "client_id": "c",
                "client_secret": "ct-secret-value",
            },
            "marketing": {
                "type": "klaviyo",
                "api_key": "pk_secret_value",
                "base_url": "http://127.0.0.1:9",
                "max_retries": 0,  # nothing listens there: fail at once
            },
        },
        "http": {"listen": "127.0.0.1:0", "admin_token": ADMIN, "ingress_token": INGRESS},
        "flows": [{"name": "f", "source": "shop", "target": "marketing"}],
    }
    return Service(parse_config(cfg))
