"""Fixtures for fidelity tests: the emulator served from a thread, driven by the official SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from klaviyo_api import KlaviyoAPI

from crmsync.emulators.klaviyo import KlaviyoEmulator


@pytest.fixture()
def klaviyo_emulator() -> Iterator[KlaviyoEmulator]:
    emulator = KlaviyoEmulator(job_step_seconds=0.01, seed=11)
    emulator.start_in_thread()
    try:
        yield emulator
    finally:
        emulator.stop_thread()


@pytest.fixture()
def sdk(klaviyo_emulator: KlaviyoEmulator) -> KlaviyoAPI:
    """The official klaviyo-api client pointed at the emulator (no SDK-level retries)."""
    return KlaviyoAPI(api_key="pk_test", test_host=klaviyo_emulator.base_url, max_retries=0)
