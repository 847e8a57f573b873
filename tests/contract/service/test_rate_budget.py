"""Promise 6: a backlog against Klaviyo with its real rate limits on — the shared budget keeps every
window under the published limit (no 429 at all) while using most of it."""

from __future__ import annotations

import bisect
import time
from pathlib import Path

import pytest

from crmsync.config import parse_config
from crmsync.emulators.commercetools import CommercetoolsEmulator
from crmsync.emulators.commercetools.seed import generate_customer_drafts
from crmsync.emulators.klaviyo import KlaviyoEmulator
from crmsync.service import Service


def max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window - 1e-9) - i for i, t in enumerate(times))


@pytest.mark.slow
async def test_backlog_stays_under_the_budget_and_uses_most_of_it(tmp_path: Path) -> None:
    ct = CommercetoolsEmulator("rb")
    kl = KlaviyoEmulator(rate_limits=True)
    for draft in generate_customer_drafts(300, seed=9):
        ct.create_customer(draft)
    ct_url, kl_url = await ct.start(), await kl.start()
    cfg = {
        "store": f"sqlite:///{tmp_path / 's.db'}",
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "rb",
                "api_url": ct_url,
                "auth_url": ct_url,
                "client_id": "c",
                "client_secret": "s",
            },
            "marketing": {
                "type": "klaviyo",
                "api_key": "pk_budget",
                "base_url": kl_url,
                "max_concurrency": 32,
            },
        },
        "flows": [{"name": "rb", "source": "shop", "target": "marketing", "bulk_threshold": 100000}],
    }
    svc = Service(parse_config(cfg))
    try:
        t0 = time.monotonic()
        complete, stats = await svc.sync("customers")
        elapsed = time.monotonic() - t0
        sends = [
            e.at.timestamp()
            for e in svc.store.log_query(connection="marketing", limit=10_000)
            if e.url.endswith("/api/profile-import")
        ]
    finally:
        await svc.aclose()
        await ct.stop()
        await kl.stop()
    assert complete and stats.delivered == 300
    # Klaviyo's own accounting (fixed windows per account and operation) never had to refuse one
    assert kl.request_count(status=429) == 0
    assert kl.request_count(operation_id="create_or_update_profile") == 300
    # and at the sender, no sliding 1-second window of any alignment holds more than the limit
    assert len(sends) == 300
    assert max_in_any_window(sends, 1.0) <= 75
    # 300 requests at the 95% budget (71/s) need ~4 s; well above that would mean the budget is wasted
    assert elapsed < 300 / 71 * 1.6, elapsed
