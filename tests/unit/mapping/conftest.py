"""Fixtures for the mapping tests: the default projector and a commercetools customer builder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crmsync.mapping import Projector, load_contract
from tests.unit.mapping.factories import make_customer


@pytest.fixture(scope="session")
def projector() -> Projector:
    return Projector(load_contract("default"))


@pytest.fixture()
def customer() -> Callable[..., dict[str, Any]]:
    return make_customer
