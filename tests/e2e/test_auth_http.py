"""authorize() over real HTTP: 401 and 403 as problem+json with a Bearer challenge, 200 inside."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from ledger.auth import create_key, revoke_key
from ledger.http.auth import KEY_CACHE, PRINCIPAL, KeyCache, authorize
from ledger.http.keys import POOL
from ledger.http.middleware import canonical_request


async def _finance_report(request: web.Request) -> web.Response:
    principal = await authorize(request, "finance:read")
    assert request[PRINCIPAL] == principal
    return web.json_response({"client_id": principal.client_id})


@pytest.fixture
async def http(pool) -> AsyncIterator[TestClient]:
    app = web.Application(middlewares=[canonical_request])
    app[POOL] = pool
    app.router.add_get("/report", _finance_report)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.fixture
def request_line() -> Iterator[Callable[[], dict]]:
    """The last canonical request log line, with the context merged in as in production."""
    capture = structlog.testing.LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    yield lambda: [entry for entry in capture.entries if entry["event"] == "request"][-1]
    structlog.reset_defaults()


async def _key(pool, *scopes: str, client_id: str = "acme") -> str:
    async with pool.acquire() as conn:
        _, plaintext = await create_key(conn, name="test", scopes=scopes, client_id=client_id)
    return plaintext


async def _problem(response) -> dict:
    assert response.headers["Content-Type"] == "application/problem+json"
    body = await response.json(content_type="application/problem+json")
    assert body["status"] == response.status
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body


async def test_a_request_without_a_key_gets_401_with_a_bearer_challenge(http, request_line):
    response = await http.get("/report")
    body = await _problem(response)
    assert response.status == 401
    assert body["code"] == "missing_api_key"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="giftcard-ledger"'
    assert "client_id" not in request_line()


async def test_an_unknown_key_gets_401_invalid_token(http):
    response = await http.get("/report", headers={"Authorization": "Bearer gcl_wrong"})
    body = await _problem(response)
    assert (response.status, body["code"]) == (401, "invalid_api_key")
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_a_revoked_key_gets_401(http, pool):
    plaintext = await _key(pool, "finance:read")
    async with pool.acquire() as conn:
        key_id = plaintext.split("_")[1]
        await revoke_key(conn, key_id)
    response = await http.get("/report", headers={"Authorization": f"Bearer {plaintext}"})
    body = await _problem(response)
    assert (response.status, body["code"]) == (401, "invalid_api_key")
    assert "revoked" in body["detail"]


async def test_a_key_without_the_scope_gets_403_naming_the_scope_needed(http, pool, request_line):
    plaintext = await _key(pool, "orders:write", client_id="shop-7")
    response = await http.get("/report", headers={"Authorization": f"Bearer {plaintext}"})
    body = await _problem(response)
    assert (response.status, body["code"]) == (403, "insufficient_scope")
    assert "'finance:read'" in body["detail"]
    assert body["required_scope"] == "finance:read"
    assert 'scope="finance:read"' in response.headers["WWW-Authenticate"]
    assert request_line()["client_id"] == "shop-7"


async def test_a_key_with_the_scope_gets_through_and_the_log_line_names_the_client(
    http, pool, request_line
):
    plaintext = await _key(pool, "finance:read", client_id="finance-team")
    response = await http.get("/report", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status == 200
    assert await response.json() == {"client_id": "finance-team"}
    line = request_line()
    assert (line["status"], line["client_id"]) == (200, "finance-team")
    assert all(plaintext not in str(value) for value in line.values())


async def test_an_admin_key_gets_through_every_scope(http, pool):
    plaintext = await _key(pool, "admin", client_id="ops")
    response = await http.get("/report", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status == 200
    assert await response.json() == {"client_id": "ops"}


async def test_asking_for_an_unknown_scope_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown scope 'orders:read'"):
        await authorize(make_mocked_request("GET", "/report"), "orders:read")


@contextlib.asynccontextmanager
async def cached_http(pool, ttl_s: float) -> AsyncIterator[TestClient]:
    app = web.Application(middlewares=[canonical_request])
    app[POOL] = pool
    app[KEY_CACHE] = KeyCache(ttl_s=ttl_s)
    app.router.add_get("/report", _finance_report)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(pool):
    plaintext = await _key(pool, "finance:read")
    headers = {"Authorization": f"Bearer {plaintext}"}
    async with cached_http(pool, ttl_s=0.5) as http:
        assert (await http.get("/report", headers=headers)).status == 200
        async with pool.acquire() as conn:
            # From here a request that read the key from the database would get 401.
            await revoke_key(conn, plaintext.split("_")[1])
        # The window the cache allows: the key was proven moments ago.
        assert (await http.get("/report", headers=headers)).status == 200
        await asyncio.sleep(0.6)
        response = await http.get("/report", headers=headers)
        assert (response.status, (await _problem(response))["code"]) == (401, "invalid_api_key")


async def test_a_cached_key_stops_at_its_expiry_whatever_the_cache_time(pool):
    async with pool.acquire() as conn:
        _, plaintext = await create_key(
            conn,
            name="short",
            scopes=["finance:read"],
            client_id="acme",
            expires_at=datetime.now(UTC) + timedelta(seconds=0.5),
        )
    headers = {"Authorization": f"Bearer {plaintext}"}
    async with cached_http(pool, ttl_s=60) as http:
        assert (await http.get("/report", headers=headers)).status == 200
        await asyncio.sleep(0.6)
        assert (await http.get("/report", headers=headers)).status == 401
