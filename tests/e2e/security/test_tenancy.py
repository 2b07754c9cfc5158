"""Tenants cannot reach each other's orders (issue 13, finding 1): client ids cannot hold the
stream id's separator, the database refuses an order stream that does not spell its owner,
and every read checks the caller owns the order."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from ledger.auth import create_key
from ledger.http.keys import POOL
from ledger.log import store
from tests.e2e.security.test_finance_scopes import _eventually, _key, _reconcile_nothing
from tests.factories import order_requested
from tests.harness import order_body


async def test_a_client_id_holding_the_separator_cannot_reach_another_clients_order(running):
    client, acme, _ = running
    placed = await client.post(
        "/api/v1/orders", json=order_body(), headers=acme | {"Idempotency-Key": "eu:collide-1"}
    )
    assert placed.status in (201, 202)
    async with client.app[POOL].acquire() as conn:
        with pytest.raises(ValueError, match="client"):
            await create_key(conn, name="eu", scopes=["orders:write"], client_id="acme:eu")
        # Nor can a row written past the code, by hand or by an old node.
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO api_keys (key_id, client_id, name, key_hash, scopes)"
                " VALUES ('00000000000000aa', 'acme:eu', 'eu', $1, ARRAY['orders:write'])",
                b"\x01" * 32,
            )


async def test_the_log_refuses_an_order_stream_that_does_not_spell_its_owner_and_key(pool):
    # client "acme:eu", key "collide-1" would be stream order:acme:eu:collide-1: acme's key
    # "eu:collide-1". The database refuses the order, whatever wrote it.
    requested = order_requested("collide-1", client="acme:eu")
    with pytest.raises(asyncpg.CheckViolationError):
        await store.append(pool, "order:acme:eu:collide-1", [requested], 0)
    owned = order_requested("eu:collide-1", client="acme")
    await store.append(pool, "order:acme:eu:collide-1", [owned], 0)


async def test_an_order_read_under_another_clients_stream_is_not_found(running):
    """Defence in depth, for a log written before the database checked streams (the check
    cannot be validated against history that may not be rewritten)."""
    client, acme, _ = running
    pool = client.app[POOL]
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE events DROP CONSTRAINT events_order_stream_owner")
        foreign = order_requested("planted-1", client="globex")
        await store.append(conn, "order:acme:planted-1", [foreign], 0)
    for path in ("/api/v1/orders/planted-1", "/api/v1/orders/planted-1/events"):
        response = await client.get(path, headers=acme)
        assert response.status == 404, await response.text()


async def test_a_finding_about_an_order_under_another_clients_stream_is_its_owners(running):
    """The same defence for the discrepancies: a finding belongs to the order's recorded
    client, not to whoever its stream id names."""
    client, _, _ = running
    pool = client.app[POOL]
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE events DROP CONSTRAINT events_order_stream_owner")
        foreign = order_requested("planted-2", client="globex", requested_at=datetime.now(UTC))
        await store.append(conn, "order:acme:planted-2", [foreign], 0)
    await _reconcile_nothing(pool)
    everyone = await _key(pool, "ops", "finance:all")
    _, found = await _eventually(
        client, "/api/v1/discrepancies", everyone, lambda body: body["items"]
    )
    assert [d["client_id"] for d in found["items"]] == ["globex"]
    acme = await _key(pool, "acme", "finance:read")
    assert (await (await client.get("/api/v1/discrepancies", headers=acme)).json())["items"] == []
