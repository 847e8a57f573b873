"""One service config for the in-process service tests: commercetools and Klaviyo emulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def service_config(
    db: Path,
    ct_url: str,
    kl_url: str,
    *,
    flow: dict[str, Any] | None = None,
    shop: dict[str, Any] | None = None,
    marketing: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A config with connections ``shop`` (project ``p``) and ``marketing`` and one flow ``f``."""
    return {
        "store": f"sqlite:///{db}",
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "p",
                "api_url": ct_url,
                "auth_url": ct_url,
                "client_id": "c",
                "client_secret": "s",
                "poll_overlap_seconds": 1,
                **(shop or {}),
            },
            "marketing": {
                "type": "klaviyo",
                "api_key": "pk_test",
                "base_url": kl_url,
                "bulk_poll_interval_seconds": 0.02,
                **(marketing or {}),
            },
        },
        "flows": [{"name": "f", "source": "shop", "target": "marketing", **(flow or {})}],
        **top,
    }
