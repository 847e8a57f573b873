"""upsert / find / get_profile against scripted responses (every branch of the delivery contract)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crmsync.connectors.klaviyo import CAPABILITIES, KlaviyoConnector
from crmsync.connectors.klaviyo.lists import filter_literal
from crmsync.errors import (
    CredentialsError,
    DuplicateError,
    PermanentError,
    RecordValidationError,
    TransientError,
)
from crmsync.ports import Projection, TargetConnector
from tests.unit.klaviyo_connector.fake_klaviyo import (
    Captured,
    FakeKlaviyo,
    Reply,
    error_body,
    profile_body,
)

IMPORT = "/api/profile-import"
PAYLOAD = {"external_id": "cust-1", "email": "ann@example.com", "phone_number": "+4915112345678"}


def _item(**payload: object) -> Projection:
    body = {**PAYLOAD, **payload}
    return Projection(kind="customer", record_key="cust-1", payload=body, correlation_id="corr-1")


def _duplicate(existing: str) -> Reply:
    return Reply(
        409,
        error_body(
            409, "duplicate_profile", "A profile already exists", meta={"duplicate_profile_id": existing}
        ),
    )


def test_connector_satisfies_the_target_protocol(make_connector: Callable[..., KlaviyoConnector]) -> None:
    connector = make_connector()
    assert isinstance(connector, TargetConnector)
    assert connector.system == "klaviyo" and connector.name == "kl"
    assert connector.capabilities == CAPABILITIES
    assert CAPABILITIES.entities == frozenset({"customer", "order", "category", "product"})
    assert (CAPABILITIES.max_bulk_records, CAPABILITIES.max_bulk_bytes) == (10_000, 5_000_000)


async def test_upsert_created_then_updated(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", IMPORT, Reply(201, profile_body("P1")), Reply(200, profile_body("P1")))
    connector = make_connector()
    first = await connector.upsert(_item())
    second = await connector.upsert(_item(first_name="Ann"))
    assert (first.ok, first.target_id, first.created, first.calls) == (True, "P1", True, 1)
    assert (second.ok, second.target_id, second.created) == (True, "P1", False)
    assert fake.requests[0].json() == {"data": {"type": "profile", "attributes": PAYLOAD}}


async def test_duplicate_links_the_existing_profile_by_patch(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", IMPORT, _duplicate("P-OLD"))
    fake.on("PATCH", "/api/profiles/P-OLD", Reply(200, profile_body("P-OLD")))
    result = await make_connector().upsert(_item())
    assert (result.ok, result.target_id, result.created, result.calls) == (True, "P-OLD", False, 2)
    patch = fake.sent("PATCH")[0].json()
    assert patch == {"data": {"type": "profile", "id": "P-OLD", "attributes": PAYLOAD}}


async def test_duplicate_patch_drops_only_the_identifier_held_by_another_profile(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    """The PATCH conflicts with P-OTHER, which holds our phone number: only that one is dropped."""
    fake.on("POST", IMPORT, _duplicate("P-OLD"))
    fake.on("PATCH", "/api/profiles/P-OLD", _duplicate("P-OTHER"), Reply(200, profile_body("P-OLD")))
    fake.on(
        "GET",
        "/api/profiles/P-OTHER",
        Reply(200, profile_body("P-OTHER", email="someone@else.com", phone_number=PAYLOAD["phone_number"])),
    )
    result = await make_connector().upsert(_item(first_name="Ann"))
    assert (result.ok, result.target_id, result.calls) == (True, "P-OLD", 3)
    patches = [c.json()["data"]["attributes"] for c in fake.sent("PATCH")]
    assert "phone_number" in patches[0]
    assert patches[1] == {"external_id": "cust-1", "email": "ann@example.com", "first_name": "Ann"}


async def test_duplicate_that_cannot_be_resolved_is_returned(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", IMPORT, _duplicate("P-OLD"))
    fake.on("PATCH", "/api/profiles/P-OLD", _duplicate("P-OTHER"))
    fake.on("GET", "/api/profiles/P-OTHER", Reply(200, profile_body("P-OTHER", email="unrelated@x.com")))
    result = await make_connector().upsert(_item())
    assert result.ok is False and isinstance(result.error, DuplicateError)
    assert result.error.existing_id == "P-OTHER"


async def test_duplicate_without_existing_id_fails_the_record(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", IMPORT, Reply(409, error_body(409, "duplicate_profile", "dup")))
    result = await make_connector().upsert(_item())
    assert result.ok is False and isinstance(result.error, DuplicateError)
    assert fake.sent("PATCH") == []


async def test_invalid_field_is_not_dropped_but_dead_lettered(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on(
        "POST",
        IMPORT,
        Reply(
            400,
            error_body(
                400,
                "invalid",
                "Invalid phone number format",
                source={"pointer": "/data/attributes/phone_number"},
            ),
        ),
    )
    result = await make_connector().upsert(_item(phone_number="12"))
    assert result.ok is False and isinstance(result.error, RecordValidationError)
    assert result.error.field == "phone_number"
    assert "Invalid phone number format" in result.error.message
    assert result.error.record_key == "cust-1" and result.error.correlation_id == "corr-1"
    assert len(fake.requests) == 1  # not resent without the field


async def test_transient_failure_is_returned_after_retries(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("POST", IMPORT, Reply(503, error_body(503, "error", "down")))
    result = await make_connector(max_retries=2).upsert(_item())
    assert result.ok is False and isinstance(result.error, TransientError)
    assert result.calls == 3


async def test_bad_key_is_fatal(fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]) -> None:
    fake.on("POST", IMPORT, Reply(401, error_body(401, "not_authenticated", "bad key")))
    result = await make_connector().upsert(_item())
    assert isinstance(result.error, CredentialsError)


async def test_other_kinds_are_refused_without_a_request(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    item = Projection(kind="order", record_key="o-1", payload={})
    result = await make_connector().upsert(item)
    assert result.ok is False and isinstance(result.error, PermanentError) and result.calls == 0
    assert fake.requests == []


# -- find / get_profile ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("a@b.com", '"a@b.com"'),
        ('o"hara@b.com', '"o\\"hara@b.com"'),
        ("back\\slash", '"back\\\\slash"'),
    ],
)
def test_filter_literal_escaping(value: str, literal: str) -> None:
    assert filter_literal(value) == literal


async def test_find_tries_external_id_then_email_then_phone(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    def lookup(c: Captured) -> Reply:
        found = c.query["filter"] == 'equals(phone_number,"+4915112345678")'
        return Reply(200, {"data": [{"type": "profile", "id": "P9"}] if found else []})

    fake.on("GET", "/api/profiles", lookup)
    connector = make_connector()
    assert await connector.find("customer", PAYLOAD) == "P9"
    filters = [c.query["filter"] for c in fake.requests]
    assert filters == [
        'equals(external_id,"cust-1")',
        'equals(email,"ann@example.com")',
        'equals(phone_number,"+4915112345678")',
    ]
    assert all(c.query["page[size]"] == "1" for c in fake.requests)


async def test_find_escapes_quotes(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", "/api/profiles", Reply(200, {"data": []}))
    assert await make_connector().find("customer", {"email": 'x"y@z.com'}) is None
    assert fake.requests[0].query["filter"] == 'equals(email,"x\\"y@z.com")'


async def test_find_stops_at_the_first_match(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", "/api/profiles", Reply(200, {"data": [{"type": "profile", "id": "P1"}]}))
    assert await make_connector().find("customer", PAYLOAD) == "P1"
    assert len(fake.requests) == 1


async def test_find_refuses_other_kinds(make_connector: Callable[..., KlaviyoConnector]) -> None:
    with pytest.raises(PermanentError, match="order"):
        await make_connector().find("order", {"external_id": "x"})


async def test_get_profile_returns_none_when_absent(
    fake: FakeKlaviyo, make_connector: Callable[..., KlaviyoConnector]
) -> None:
    fake.on("GET", "/api/profiles/P1", Reply(200, profile_body("P1", email="a@b.com")))
    connector = make_connector()
    profile = await connector.get_profile("P1")
    assert profile is not None and profile["attributes"]["email"] == "a@b.com"
    assert await connector.get_profile("missing") is None
