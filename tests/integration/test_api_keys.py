"""API keys against a real database: create, authenticate, list, revoke."""

import asyncpg
import pytest

from ledger.auth import (
    AuthError,
    authenticate,
    create_key,
    generate_key,
    hash_key,
    list_keys,
    revoke_key,
)


async def _auth_error(conn, header) -> AuthError:
    with pytest.raises(AuthError) as caught:
        await authenticate(conn, header)
    return caught.value


async def test_a_created_key_authenticates_as_its_client_with_its_scopes(pool):
    async with pool.acquire() as conn:
        created, plaintext = await create_key(
            conn, name="shop", scopes=["orders:write", "finance:read"], client_id="acme"
        )
        principal = await authenticate(conn, f"Bearer {plaintext}")
    assert principal == created
    assert principal.client_id == "acme"
    assert principal.scopes == frozenset({"orders:write", "finance:read"})


async def test_the_client_defaults_to_the_key_name(pool):
    async with pool.acquire() as conn:
        created, plaintext = await create_key(conn, name="shop", scopes=["orders:write"])
        assert (await authenticate(conn, f"bearer {plaintext}")).client_id == "shop"
    assert created.client_id == "shop"


async def test_only_the_hash_of_a_key_is_stored(pool):
    async with pool.acquire() as conn:
        created, plaintext = await create_key(conn, name="shop", scopes=["admin"])
        row = await conn.fetchrow("SELECT * FROM api_keys WHERE key_id = $1", created.key_id)
    assert row["key_hash"] == hash_key(plaintext)
    assert all(plaintext not in str(value) for value in row.values())


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer   "])
async def test_a_request_without_a_key_is_refused_as_missing(pool, header):
    async with pool.acquire() as conn:
        error = await _auth_error(conn, header)
    assert (error.status, error.code) == (401, "missing_api_key")
    assert "Authorization: Bearer <api key>" in error.detail


async def test_a_key_sent_with_another_scheme_is_refused(pool):
    async with pool.acquire() as conn:
        _, plaintext = await create_key(conn, name="shop", scopes=["admin"])
        error = await _auth_error(conn, f"Basic {plaintext}")
    assert (error.status, error.code) == (401, "missing_api_key")
    assert "not Bearer" in error.detail


@pytest.mark.parametrize("token", ["nonsense", "gcl_", "x" * 5000])
async def test_a_malformed_key_is_invalid(pool, token):
    async with pool.acquire() as conn:
        error = await _auth_error(conn, f"Bearer {token}")
    assert (error.status, error.code, error.detail) == (
        401,
        "invalid_api_key",
        "the API key is not valid",
    )


async def test_a_well_formed_but_unknown_key_is_invalid(pool):
    _, never_stored = generate_key()
    async with pool.acquire() as conn:
        await create_key(conn, name="shop", scopes=["admin"])
        error = await _auth_error(conn, f"Bearer {never_stored}")
    assert (error.status, error.code) == (401, "invalid_api_key")


async def test_a_revoked_key_no_longer_authenticates(pool):
    async with pool.acquire() as conn:
        created, plaintext = await create_key(conn, name="shop", scopes=["orders:write"])
        revoked_at = await revoke_key(conn, created.key_id)
        error = await _auth_error(conn, f"Bearer {plaintext}")
        again = await revoke_key(conn, created.key_id)
    assert revoked_at is not None and again == revoked_at
    assert (error.status, error.code) == (401, "invalid_api_key")
    assert f"{created.key_id} has been revoked" in error.detail


async def test_revoking_an_unknown_key_reports_none(pool):
    async with pool.acquire() as conn:
        assert await revoke_key(conn, "0123456789abcdef") is None


async def test_revoking_one_key_leaves_the_clients_other_keys_working(pool):
    async with pool.acquire() as conn:
        old, _ = await create_key(conn, name="old", scopes=["orders:write"], client_id="acme")
        _, new_plaintext = await create_key(
            conn, name="new", scopes=["orders:write"], client_id="acme"
        )
        await revoke_key(conn, old.key_id)
        assert (await authenticate(conn, f"Bearer {new_plaintext}")).name == "new"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"name": "shop", "scopes": ["orders:write", "refunds:write"]},
            "unknown scope 'refunds:write'",
        ),
        ({"name": "shop", "scopes": []}, "at least one scope"),
        ({"name": " ", "scopes": ["admin"]}, "must not be empty"),
        ({"name": "shop", "scopes": ["admin"], "client_id": ""}, "client id '' is not valid"),
        ({"name": "shop", "scopes": ["admin"], "client_id": "acme:eu"}, "is not valid"),
        ({"name": "my shop", "scopes": ["admin"]}, "client id 'my shop' is not valid"),
    ],
)
async def test_invalid_key_requests_are_refused_before_anything_is_stored(pool, kwargs, message):
    async with pool.acquire() as conn:
        with pytest.raises(ValueError, match=message):
            await create_key(conn, **kwargs)
        assert await conn.fetchval("SELECT count(*) FROM api_keys") == 0


async def test_the_database_itself_refuses_an_unknown_scope(pool):
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "INSERT INTO api_keys (key_id, client_id, name, key_hash, scopes)"
            " VALUES ('0123456789abcdef', 'c', 'n', $1, ARRAY['root'])",
            b"\0" * 32,
        )


async def test_listing_shows_every_key_with_its_status_and_no_secret(pool):
    async with pool.acquire() as conn:
        live, _ = await create_key(conn, name="live", scopes=["finance:read"])
        gone, _ = await create_key(conn, name="gone", scopes=["orders:write"])
        await revoke_key(conn, gone.key_id)
        keys = {key.key_id: key for key in await list_keys(conn)}
    assert keys[live.key_id].revoked_at is None
    assert keys[gone.key_id].revoked_at is not None
    assert keys[live.key_id].scopes == ("finance:read",)
    assert not hasattr(keys[live.key_id], "key_hash")
