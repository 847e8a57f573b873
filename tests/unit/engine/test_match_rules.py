"""Deterministic match rules: before a record's first write the engine asks the target for it by the
flow's identifiers in priority order (stable id → e-mail → E.164 phone → national id) and links the
match instead of creating a duplicate; the service refuses a rule the contract or target cannot serve."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from crmsync.config import parse_config
from crmsync.engine import Flow
from crmsync.engine.delivery import deliver_records
from crmsync.errors import ConfigError
from crmsync.service import Service
from crmsync.store import StateStore

from .fakes import FakeSource, FakeTarget, customer


@dataclass
class Projected:
    payload: dict[str, Any]
    identifiers: dict[str, str] = field(default_factory=dict)


class IdProjector:
    """Projects a customer with a national id among its identifiers (never in the payload)."""

    def project(self, record: Mapping[str, Any]) -> Projected:
        ids = {"external_id": record["id"], "email": record["email"]}
        national = (record.get("custom") or {}).get("fields", {}).get("nationalId")
        if national:
            ids["national_id"] = national
        return Projected({"external_id": record["id"], "email": record["email"]}, ids)


class DirectoryTarget(FakeTarget):
    """A CRM that can look contacts up by national id (as Dynamics' SearchByFields can)."""

    def __init__(self, known: dict[tuple[str, str], str]) -> None:
        super().__init__(bulk=False)
        self.capabilities = replace(
            self.capabilities, find_by=frozenset({"external_id", "email", "phone_number", "national_id"})
        )
        self.known = known
        self.asked: list[list[tuple[str, str]]] = []

    async def find(self, kind: str, identifiers: Mapping[str, str]) -> str | None:
        self.asked.append(list(identifiers.items()))
        for name, value in identifiers.items():  # the caller's order is the priority
            if (name, value) in self.known:
                return self.known[(name, value)]
        return None


def test_a_record_is_linked_by_the_first_rule_that_matches(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 's.db'}")
    source = FakeSource()
    anna = customer("c1", first="Anna")
    anna["custom"] = {"type": {"typeId": "type", "id": "t"}, "fields": {"nationalId": "850101-1234"}}
    bo = customer("c2", first="Bo")
    source.put(anna)
    source.put(bo)
    target = DirectoryTarget(
        {("national_id", "850101-1234"): "CONTACT-7", ("email", bo["email"]): "CONTACT-9"}
    )
    flow = Flow(
        name="f",
        kind="customer",
        source=source,
        target=target,
        projector=IdProjector(),
        store=store,
        match_order=("external_id", "email", "national_id"),
    )

    async def run() -> None:
        records = await source.read_by_ids("customer", ["c1", "c2"])
        outcome = await deliver_records(flow, records, force_bulk=False)
        assert sorted(outcome.delivered) == ["c1", "c2"]
        again = await source.read_by_ids("customer", ["c1"])
        await deliver_records(flow, again, force_bulk=False, force=True)

    asyncio.run(run())
    # asked in priority order, with only the identifiers the record has; never again once linked
    assert target.asked == [
        [("external_id", "c1"), ("email", anna["email"]), ("national_id", "850101-1234")],
        [("external_id", "c2"), ("email", bo["email"])],
    ]
    for key, profile in (("c1", "CONTACT-7"), ("c2", "CONTACT-9")):
        internal = store.resolve("customer", "commercetools", "id", key)
        assert internal is not None
        assert store.resolve("customer", "klaviyo", "id", profile) == internal
    store.close()


def _config(tmp_path: Path, match_order: list[str]) -> dict[str, Any]:
    return {
        "store": f"sqlite:///{tmp_path / 's.db'}",
        "connections": {
            "shop": {
                "type": "commercetools",
                "project_key": "p",
                "api_url": "http://127.0.0.1:9",
                "auth_url": "http://127.0.0.1:9",
                "client_id": "c",
                "client_secret": "s",
            },
            "marketing": {"type": "klaviyo", "api_key": "pk_test", "base_url": "http://127.0.0.1:9"},
        },
        "flows": [{"name": "f", "source": "shop", "target": "marketing", "match_order": match_order}],
    }


def test_a_rule_the_target_cannot_look_up_by_is_refused_with_the_reason(tmp_path: Path) -> None:
    cfg = _config(tmp_path, ["external_id", "national_id"])
    with pytest.raises(ConfigError) as caught:
        Service(parse_config(cfg))
    text = str(caught.value)
    assert "flows.f.match_order" in text and "national_id" in text
    # ... the default contract does not project a national id to Klaviyo (it has nowhere to find it)
    assert "not an identifier of the mapping contract" in text


def test_the_klaviyo_rules_are_accepted(tmp_path: Path) -> None:
    svc = Service(parse_config(_config(tmp_path, ["external_id", "email", "phone_number"])))
    try:
        assert svc.flow("customer").match_order == ("external_id", "email", "phone_number")
    finally:
        asyncio.run(svc.aclose())


def test_a_national_id_rule_needs_a_target_that_can_look_up_by_it(tmp_path: Path) -> None:
    from crmsync.mapping.loader import CONTRACTS_DIR

    text = (CONTRACTS_DIR / "commercetools-customer-to-klaviyo-profile.yaml").read_text()
    assert "  phone_number: phone_number\n" in text
    contract = tmp_path / "contract.yaml"
    contract.write_text(
        text.replace(
            "  phone_number: phone_number\n",
            "  phone_number: phone_number\n  national_id: properties.nationalId\n",
        )
    )
    cfg = _config(tmp_path, ["external_id", "national_id"])
    cfg["flows"][0]["mapping"] = str(contract)
    with pytest.raises(ConfigError) as caught:
        Service(parse_config(cfg))
    assert "klaviyo connection 'marketing' cannot look a record up by national_id" in str(caught.value)
    assert "(it can by email, external_id, phone_number)" in str(caught.value)
