"""Mapping contracts (YAML, schema-validated), named transforms and the projector.

::

    from crmsync.mapping import Projector, load_contract, projection_hash, diff_payloads

    contract = load_contract("default")  # or a path to a copied and edited YAML file
    projector = Projector(contract)
    result = projector.project(customer)  # ProjectionResult(canonical, payload, identifiers, ...)
    if projection_hash(result.payload) != last_hash:
        changes = diff_payloads(last_payload, result.payload)

See :mod:`crmsync.mapping.contract` for the contract format and
``contracts/commercetools-customer-to-klaviyo-profile.yaml`` for the default (seed 004).
"""

from crmsync.mapping.contract import Contract, FieldRule, Selector, SourceRef, SystemRef, Validation
from crmsync.mapping.loader import (
    DEFAULT_CONTRACT,
    bundled_contracts,
    load_contract,
    parse_contract,
    parse_contract_text,
)
from crmsync.mapping.payload import FieldChange, diff_payloads, projection_hash
from crmsync.mapping.projector import CanonicalRecord, CanonicalResult, ProjectionResult, Projector
from crmsync.mapping.transforms import (
    DEFAULT_REGISTRY,
    InvalidValue,
    TransformArgs,
    TransformRegistry,
    ValidatingArgs,
    register_transform,
)

__all__ = [
    "DEFAULT_CONTRACT",
    "DEFAULT_REGISTRY",
    "CanonicalRecord",
    "CanonicalResult",
    "Contract",
    "FieldChange",
    "FieldRule",
    "InvalidValue",
    "ProjectionResult",
    "Projector",
    "Selector",
    "SourceRef",
    "SystemRef",
    "TransformArgs",
    "TransformRegistry",
    "ValidatingArgs",
    "Validation",
    "bundled_contracts",
    "diff_payloads",
    "load_contract",
    "parse_contract",
    "parse_contract_text",
    "projection_hash",
    "register_transform",
]
