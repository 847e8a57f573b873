"""Hostile input: whatever arrives, parse_ingress returns events or raises IngressError — nothing else."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.connectors.commercetools.ingress import parse_ingress
from crmsync.errors import IngressError
from crmsync.ports import ChangeEvent

from .payloads import change, cloudevent, customer, message, pubsub

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)

VALID: list[dict[str, Any]] = [
    message("CustomerCreated", customer=customer()),
    message("CustomerDeleted", email="a@b.com"),
    change("ResourceUpdated", oldVersion=1),
    change("ResourceDeleted", dataErasure=True),
    cloudevent(
        message("CustomerTitleSet", title="Dr"), "com.commercetools.customer.message.CustomerTitleSet"
    ),
    pubsub(message("CustomerFirstNameSet", firstName="J")),
]


CE_TYPES = [
    "com.commercetools.customer.message.CustomerTitleSet",
    "com.commercetools.customer.change.ResourceUpdated",
    "com.commercetools.product.message.ProductPublished",
    "com.commercetools.customer",
]


def _check(raw: bytes, headers: dict[str, str] | None = None) -> None:
    try:
        events = parse_ingress(raw, headers or {})
    except IngressError as exc:
        assert exc.reason  # a reason is always given
        return
    assert isinstance(events, list)
    assert all(isinstance(e, ChangeEvent) for e in events)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.append((*prefix, key))
            out.extend(_paths(value, (*prefix, key)))
    return out


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=120, deadline=None)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    _check(json.dumps(value).encode())
    _check(json.dumps(pubsub(value)).encode())


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_base64_payload(raw: bytes) -> None:
    _check(json.dumps(pubsub(None, raw_data=base64.b64encode(raw).decode())).encode())


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID), st.data(), json_values)
def test_valid_payload_with_one_field_replaced(
    payload: dict[str, Any], data: st.DataObject, value: Any
) -> None:
    doc = json.loads(json.dumps(payload))
    path = data.draw(st.sampled_from(_paths(doc)))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _check(json.dumps(doc).encode())


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["ce-specversion", "CE-ID", "x"]), st.text(max_size=60)),
    st.sampled_from(CE_TYPES) | st.text(max_size=60),
    st.sampled_from([*VALID, *(v["data"] for v in VALID if "data" in v)]) | json_values,
)
def test_arbitrary_binary_mode_headers(headers: dict[str, str], ce_type: str, value: Any) -> None:
    _check(
        json.dumps(value).encode(),
        {**headers, "ce-specversion": headers.get("ce-specversion", "1.0"), "Ce-Type": ce_type},
    )
