"""Loading contracts: bundled names, paths, and errors that point into the YAML."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from crmsync.errors import MappingError, Recovery
from crmsync.mapping import (
    Contract,
    Projector,
    bundled_contracts,
    load_contract,
    parse_contract,
    parse_contract_text,
)
from crmsync.mapping.loader import CONTRACTS_DIR, DEFAULT_CONTRACT
from crmsync.mapping.schema import SCHEMA_PATH, render_contract_schema, schema_is_current

DEFAULT_PATH = CONTRACTS_DIR / f"{DEFAULT_CONTRACT}.yaml"


@pytest.fixture()
def default_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    return data


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(MappingError) as info:
        parse_contract(data, origin="c.yaml")
    assert info.value.recovery is Recovery.FATAL
    return str(info.value.message)


def test_default_contract_loads_by_name_and_path() -> None:
    by_name = load_contract("default")
    assert by_name == load_contract(DEFAULT_CONTRACT) == load_contract(DEFAULT_PATH)
    assert by_name.name == DEFAULT_CONTRACT
    assert by_name.version == 1
    assert (by_name.source.system, by_name.source.entity) == ("commercetools", "customer")
    assert (by_name.target.system, by_name.target.entity) == ("klaviyo", "profile")
    assert "default" in bundled_contracts()


def test_edited_copy_loads(tmp_path: Path) -> None:
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace(
        "to: alpha2, on_invalid: drop}}]\n    region", "to: name, on_invalid: drop}}]\n    region"
    )
    assert "to: name" in text
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    projector = Projector(load_contract(path))
    record = {
        "id": "c1",
        "email": "a@example.com",
        "addresses": [{"id": "x", "country": "DE", "city": "Berlin"}],
    }
    assert projector.project(record).payload["location"]["country"] == "Germany"


def test_missing_contract_names_the_bundled_ones(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"not found: .*nope\.yaml \(bundled contracts: .*default"):
        load_contract(tmp_path / "nope.yaml")


def test_unknown_transform_error_names_the_path(default_data: dict[str, Any]) -> None:
    default_data["outbound"]["location"]["address1"] = {
        "from": "address.line1",
        "transforms": ["trim", "e165"],
    }
    message = _error(default_data)
    assert "outbound.location.address1.transforms[1]: unknown transform 'e165'" in message
    assert message.startswith("c.yaml: invalid mapping contract")


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _set("outbound.location.city", "address.cty"),
            "outbound.location.city.from: 'address.cty' is not a path",
        ),
        (_set("inbound.frist_name", "firstName"), "inbound.frist_name: Person has no field 'frist_name'"),
        (
            _set("inbound.address", {"from": "address", "map": "nope"}),
            "inbound.address.map: unknown template 'nope'",
        ),
        (_set("inbound.address", "address"), "inbound.address: the canonical field is an object (Address)"),
        (_set("inbound.first_name", {"from": "a..b"}), "inbound.first_name.from: invalid path 'a..b'"),
        (
            _set("inbound.first_name", {"from": "firstName", "value": "x"}),
            "inbound.first_name: a rule takes either",
        ),
        (_set("inbound.first_name", {"transforms": ["trim"]}), "inbound.first_name: a rule needs `from`"),
        (_set("outbound.title", 5), "outbound.title: expected a path, a rule"),
        (
            _set("outbound.title", {"from": "title", "transforms": [{"join": {"sep": 1}}]}),
            "outbound.title.transforms[0]: invalid arguments for 'join': sep: Extra inputs",
        ),
        (
            _set("outbound.title", {"from": "title", "transforms": [{"e164": {"on_invalid": "ignore"}}]}),
            "outbound.title.transforms[0]: invalid arguments for 'e164': on_invalid:",
        ),
        (
            _set("selectors.address.pick", [{"first": True, "match": {"field": "id", "equals": "x"}}]),
            "selectors.address.pick[0]: a pick rule is either",
        ),
        (
            _set("selectors.address.pick", [{"match": {"field": "id"}}]),
            "selectors.address.pick[0].match: `match` needs exactly one of",
        ),
        (
            _set("validate.required", ["external_id", "nothere"]),
            "validate.required[1]: 'nothere' is not produced by any outbound rule",
        ),
        (_set("validate.formats", {"email": "mail"}), "validate.formats.email: Input should be"),
        (_set("validate.patterns", {"email": "(["}), "validate.patterns.email: invalid regular expression"),
        (
            _set("identifiers.external_id", "location.nothere"),
            "identifiers.external_id: 'location.nothere' is not produced",
        ),
        (_set("version", 0), "version: Input should be greater than or equal to 1"),
        (_set("canonical", "robot"), "canonical: Input should be 'person' or 'company'"),
        (_set("surprise", True), "surprise: Extra inputs are not permitted"),
        (
            _set("inbound.context.stores", {"from": "stores", "map": "ct_address"}),
            "inbound.context.stores.map: the canonical field is a list",
        ),
    ],
)
def test_contract_errors_name_the_yaml_path(
    default_data: dict[str, Any], mutate: Mutation, expected: str
) -> None:
    mutate(default_data)
    assert expected in _error(default_data)


def test_all_problems_are_reported_at_once(default_data: dict[str, Any]) -> None:
    default_data["inbound"]["frist_name"] = "firstName"
    default_data["outbound"]["location"]["city"] = "address.cty"
    message = _error(default_data)
    assert "inbound.frist_name" in message and "outbound.location.city.from" in message


def test_yaml_syntax_error_has_line_and_column() -> None:
    with pytest.raises(MappingError, match=r"x\.yaml: invalid YAML at line 3, column 10: mapping values"):
        parse_contract_text("name: a\nversion: 1\nsource: a: b\n", origin="x.yaml")


def test_duplicate_keys_are_errors() -> None:
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace(
        "  first_name: first_name\n", "  first_name: first_name\n  first_name: last_name\n"
    )
    with pytest.raises(MappingError, match="found duplicate key 'first_name'"):
        parse_contract_text(text)


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(MappingError, match="must be a mapping at the top level, got list"):
        parse_contract_text("- a\n- b\n")


def test_rule_shorthand_and_group_disambiguation(default_data: dict[str, Any]) -> None:
    # a target attribute literally named "from" is a group whose "from" holds a mapping
    default_data["outbound"]["properties"] = {"from": {"from": "email"}}
    contract = parse_contract(default_data)
    result = Projector(contract).project({"id": "c1", "email": "a@example.com"})
    assert result.payload["properties"] == {"from": "a@example.com"}


def test_constant_values(default_data: dict[str, Any]) -> None:
    default_data["outbound"]["properties"] = {"source": {"value": "commercetools"}, "all": "properties"}
    result = Projector(parse_contract(default_data)).project({"id": "c1", "email": "a@example.com"})
    assert result.payload["properties"] == {"source": "commercetools"}


def test_contract_is_frozen() -> None:
    contract = load_contract("default")
    with pytest.raises(ValueError, match="frozen"):
        contract.__setattr__("name", "other")


# -- the shipped JSON Schema ----------------------------------------------------------------------


def test_shipped_schema_is_up_to_date() -> None:
    shipped = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert shipped == Contract.model_json_schema(), "run: python -m crmsync.mapping.schema"
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_contract_schema()
    assert schema_is_current()


def test_bundled_contracts_validate_against_the_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in set(bundled_contracts().values()):
        validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_schema_rejects_what_the_model_rejects(default_data: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    bad = copy.deepcopy(default_data)
    bad["outbound"]["location"]["address1"] = {"from": "address.line1", "transforms": ["e165"]}
    assert not validator.is_valid(bad)
    bad = copy.deepcopy(default_data)
    bad["outbound"]["title"] = {"from": "title", "surprise": 1}
    assert not validator.is_valid(bad)
