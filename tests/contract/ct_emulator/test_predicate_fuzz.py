"""Random predicates never crash the server: every answer is 200 or a 400 in the error envelope."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.emulators.commercetools import CommercetoolsEmulator, generate_customer_drafts

from .conftest import PROJECT, basic

PIECES = [
    "email", "firstName", "version", "createdAt", "id", "key", "addresses", "country", "custom", "fields",
    "loyaltyTier", "stores", "resource", "typeId", "lowercaseEmail", "isEmailVerified", "type",
    "sequenceNumber",
    "=", "!=", "<>", ">", ">=", "<", "<=", "(", ")", ",", "and", "or", "not", "in", "is", "defined", "empty",
    "contains", "any", "all", "true", "false", '"DE"', '"gold"', '"2024-01-01T00:00:00.000Z"', "42", "-3.5",
    ":v", ":missing", '"unterminated', "\\", '"\\u00e9"', "'", "!", "@", "..",
]  # fmt: skip
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
TOKENS = st.lists(st.sampled_from(PIECES), max_size=14).map(" ".join)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, str]]:
    emulator = CommercetoolsEmulator(PROJECT)
    base_url = emulator.start_in_thread()
    for draft in generate_customer_drafts(15, seed=8):
        emulator.create_customer(draft)
    request = urllib.request.Request(
        f"{base_url}/oauth/token",
        data=b"grant_type=client_credentials",
        headers={"Authorization": basic(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request) as response:
        token = json.loads(response.read())["access_token"]
    try:
        yield base_url, token
    finally:
        emulator.stop_thread()


def query(server: tuple[str, str], path: str, params: list[tuple[str, str]]) -> tuple[int, Any]:
    base_url, token = server
    url = f"{base_url}/{PROJECT}/{path}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def check(status: int, body: Any) -> None:
    assert status in (200, 400), (status, body)
    if status == 400:
        assert body["statusCode"] == 400 and body["errors"][0]["code"] in (
            "InvalidInput",
            "QueryComplexityLimitExceeded",
        )
        assert body["message"] == body["errors"][0]["message"]
    else:
        assert isinstance(body["results"], list)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.one_of(TEXT, TOKENS), variable=TEXT)
def test_random_customer_predicates(server: tuple[str, str], where: str, variable: str) -> None:
    check(*query(server, "customers", [("where", where), ("var.v", variable)]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.one_of(TEXT, TOKENS), sort=st.one_of(TEXT, st.sampled_from(["createdAt asc", "id desc", "type"]))
)
def test_random_message_predicates_and_sorts(server: tuple[str, str], where: str, sort: str) -> None:
    check(*query(server, "messages", [("where", where), ("sort", sort), ("limit", "5")]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limit=TEXT, offset=TEXT, with_total=TEXT)
def test_random_paging_parameters(server: tuple[str, str], limit: str, offset: str, with_total: str) -> None:
    check(*query(server, "customers", [("limit", limit), ("offset", offset), ("withTotal", with_total)]))


def test_deeply_nested_predicate_is_a_400_not_a_crash(server: tuple[str, str]) -> None:
    status, body = query(server, "customers", [("where", "not(" * 500 + 'email = "x"' + ")" * 500)])
    assert status == 400 and body["errors"][0]["code"] == "QueryComplexityLimitExceeded"
