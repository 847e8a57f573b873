"""OAuth client-credentials flow, bearer tokens, scopes and correlation ids."""

from __future__ import annotations

import aiohttp

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .conftest import PROJECT, Api, basic

INVALID_TOKEN = {
    "statusCode": 401,
    "message": "invalid_token",
    "errors": [{"code": "invalid_token", "message": "invalid_token"}],
    "error": "invalid_token",
}


async def test_token_via_form_body_has_the_platform_shape(api: Api) -> None:
    body = await api.authenticate(scope=f"manage_customers:{PROJECT} view_messages:{PROJECT}")
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["expires_in"] == 172800 and body["token_type"] == "Bearer"
    assert body["scope"] == f"manage_customers:{PROJECT} view_messages:{PROJECT}"
    status, _ = await api.get("/customers")
    assert status == 200


async def test_token_via_query_parameters_and_default_scope(api: Api) -> None:
    async with api.session.post(
        f"{api.base_url}/oauth/token",
        params={"grant_type": "client_credentials"},
        headers={"Authorization": basic("other-client", "pw")},
    ) as response:
        body = await response.json()
    assert response.status == 200
    assert body["scope"] == f"manage_project:{PROJECT}"


async def test_missing_or_broken_basic_auth_is_invalid_client(api: Api) -> None:
    for headers in ({}, {"Authorization": "Basic !!!"}, {"Authorization": basic("id", "")}):
        async with api.session.post(
            f"{api.base_url}/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
        ) as response:
            body = await response.json()
        assert response.status == 401
        assert body["error"] == "invalid_client"
        assert body["errors"][0]["code"] == "invalid_client"
        assert body["statusCode"] == 401 and body["message"] == body["errors"][0]["message"]


async def test_bad_grant_type_and_foreign_scope_are_rejected(api: Api) -> None:
    async with api.session.post(
        f"{api.base_url}/oauth/token", data={"grant_type": "password"}, headers={"Authorization": basic()}
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "unsupported_grant_type"
    async with api.session.post(
        f"{api.base_url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "manage_customers:someone-else"},
        headers={"Authorization": basic()},
    ) as response:
        body = await response.json()
    assert response.status == 400
    assert body["error"] == "invalid_scope" and body["errors"][0]["code"] == "invalid_scope"


async def test_unknown_missing_and_expired_tokens_get_invalid_token(
    api: Api, emu: CommercetoolsEmulator
) -> None:
    assert await api.call("GET", "/customers", headers={"Authorization": "Bearer nope"}) == (
        401,
        INVALID_TOKEN,
    )
    async with api.session.get(f"{api.base_url}/{PROJECT}/customers") as response:
        assert response.status == 401
        assert await response.json() == INVALID_TOKEN
    assert (await api.get("/customers"))[0] == 200
    emu.expire_tokens()
    assert await api.get("/customers") == (401, INVALID_TOKEN)
    await api.authenticate()
    assert (await api.get("/customers"))[0] == 200


async def test_scopes_are_enforced_per_endpoint_and_project(api: Api) -> None:
    await api.authenticate(scope=f"view_customers:{PROJECT}")
    assert (await api.get("/customers"))[0] == 200
    status, body = await api.post("/customers", {"email": "a@example.com", "password": "x"})
    assert status == 403
    assert body["error"] == "insufficient_scope"
    assert f"manage_customers:{PROJECT}" in body["message"]
    assert (await api.get("/messages"))[0] == 403
    await api.authenticate(scope=f"manage_project:{PROJECT}")
    async with api.session.get(
        f"{api.base_url}/another-project/customers", headers={"Authorization": f"Bearer {api.token}"}
    ) as response:
        assert response.status == 403
        assert (await response.json())["errors"][0]["code"] == "insufficient_scope"


async def test_store_scoped_tokens_do_not_grant_project_wide_access(api: Api) -> None:
    await api.authenticate(scope=f"manage_customers:{PROJECT}:eu-store")
    assert (await api.get("/customers"))[0] == 403


async def test_introspection(api: Api) -> None:
    await api.authenticate(scope=f"view_customers:{PROJECT}")
    async with api.session.post(
        f"{api.base_url}/oauth/introspect", data={"token": api.token}, headers={"Authorization": basic()}
    ) as response:
        body = await response.json()
    assert body["active"] is True and body["scope"] == f"view_customers:{PROJECT}"
    async with api.session.post(
        f"{api.base_url}/oauth/introspect", data={"token": "unknown"}, headers={"Authorization": basic()}
    ) as response:
        assert await response.json() == {"active": False}


async def test_correlation_id_is_echoed_or_generated_on_every_response(api: Api) -> None:
    async with api.session.get(
        f"{api.base_url}/{PROJECT}/customers",
        headers={"Authorization": f"Bearer {api.token}", "X-Correlation-ID": "my-trace-1"},
    ) as response:
        assert response.headers["X-Correlation-ID"] == "my-trace-1"
    seen = set()
    for url in (
        f"{api.base_url}/{PROJECT}/customers",
        f"{api.base_url}/nowhere",
        f"{api.base_url}/oauth/token",
    ):
        async with api.session.get(url) as response:
            seen.add(response.headers["X-Correlation-ID"])
    assert len(seen) == 3 and all(seen)


async def test_request_log_counts_calls(api: Api, emu: CommercetoolsEmulator) -> None:
    before = emu.request_count("GET", f"/{PROJECT}/customers")
    await api.get("/customers")
    await api.get("/customers", where='email = "x@example.com"')
    assert emu.request_count("GET", f"/{PROJECT}/customers") == before + 2
    assert emu.request_count("POST", "/oauth/token") >= 1
    method, path, status, when = emu.request_log[-1]
    assert (method, path, status) == ("GET", f"/{PROJECT}/customers", 200) and when > 0


async def test_server_in_a_thread_serves_blocking_callers() -> None:
    emulator = CommercetoolsEmulator(PROJECT)
    base_url = emulator.start_in_thread()
    try:
        emulator.create_customer({"email": "thread@example.com", "password": "x"})
        async with aiohttp.ClientSession() as session:
            api = Api(emulator, base_url, session)
            await api.authenticate()
            status, body = await api.get("/customers")
        assert status == 200 and body["total"] == 1
    finally:
        emulator.stop_thread()
