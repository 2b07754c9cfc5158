"""The service's database role cannot rewrite history (issue 13, finding 3): it may read and
append to the log and seals, and nothing else; the log stamps what a writer could forge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import structlog

from ledger.auth import create_key, revoke_key, rotate_key
from ledger.database_url import with_login, with_role
from ledger.db import ensure_service_role, prepare_database, role_warnings
from ledger.http.keys import POOL
from ledger.log import events as ev
from ledger.log import store
from ledger.log.seals import GENESIS, link_hash
from ledger.webhooks import inbox
from projections.registry import read_model_tables
from tests.factories import order_requested
from tests.harness import order_body, sandbox, service, service_settings, wait_until_terminal

ROLE = "ledger_service"
# A login as an operator makes one: a member of the service role and of nothing else.
LOGIN = "ledger_test_app"


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def service_url(pool, database_url) -> str:
    async with pool.acquire() as conn:
        await ensure_service_role(conn, ROLE, read_model_tables())
        await conn.execute(
            f"DO $$ BEGIN CREATE ROLE {LOGIN} LOGIN IN ROLE {ROLE};"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    return with_role(with_login(database_url, LOGIN), ROLE)


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE events DISABLE TRIGGER events_no_update_delete",
        "ALTER TABLE events DROP CONSTRAINT events_stream_version",
        "UPDATE events SET data = data",
        "DELETE FROM events",
        "TRUNCATE events",
        "ALTER TABLE ledger_seals DISABLE TRIGGER USER",
        "DELETE FROM ledger_seals",
        "UPDATE api_keys SET scopes = ARRAY['admin']",  # column-level: revocation only
    ],
)
async def test_the_service_role_is_refused_anything_that_rewrites_the_log(
    pool, service_url, statement
):
    await store.append(pool, "order:c:kept", [order_requested("kept")], 0)
    async with connected(service_url) as conn:
        assert await conn.fetchval("SELECT current_user") == ROLE
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
        assert await role_warnings(conn) == []


async def test_a_writer_cannot_forge_the_transaction_recording_time_or_hash(pool, service_url):
    async with connected(service_url) as conn:
        await conn.execute(
            "INSERT INTO events (stream_id, version, type, data, tx_id, recorded_at, hash)"
            " VALUES ('order:c:forged', 1, 'OrderRequested', $1, '1'::xid8,"
            " '2001-01-01T00:00:00Z', $2)",
            b'{"type":"OrderRequested","client_id":"c","idempotency_key":"forged"}',
            b"\x00" * 32,
        )
        row = await conn.fetchrow(
            "SELECT tx_id::text::bigint AS tx, recorded_at, hash FROM events"
            " WHERE stream_id = 'order:c:forged'"
        )
    assert row["tx"] > 1 and row["recorded_at"].year > 2001 and row["hash"] != b"\x00" * 32


async def test_the_service_runs_whole_as_the_service_role(database_url, service_url, tmp_path):
    """Intake, vendor calls, projections, seals: all within the role's grants."""
    async with sandbox() as (url, _):
        settings = service_settings(url, tmp_path)
        async with service(service_url, settings, migrate_dsn=database_url) as (client, writer):
            for i in range(3):
                body = order_body(f"as-service-{i}")
                assert (await client.post("/api/v1/orders", json=body, headers=writer)).ok
            done, pending = await wait_until_terminal(
                client, writer, [f"as-service-{i}" for i in range(3)], within_s=20
            )
            ready = await (await client.get("/readyz")).json()
            owners = await client.app[POOL].fetch(
                "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class"
                " WHERE relname = ANY($1::text[])",
                read_model_tables(),
            )
    assert not pending and {o["status"] for o in done.values()} == {"fulfilled"}
    assert ready["checks"]["database_role"] == "service role", ready
    assert "workers_down" not in ready["checks"], ready
    assert [r["owner"] for r in owners] == [ROLE]


async def test_the_service_role_may_manage_keys_but_not_change_what_a_key_is(pool, service_url):
    async with connected(service_url) as conn:
        created, _ = await create_key(conn, name="shop", scopes=["orders:write"])
        new, _, old = await rotate_key(conn, created.key_id, timedelta(hours=1))
        assert old.replaced_by == new.key_id and await revoke_key(conn, new.key_id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "UPDATE api_keys SET client_id = 'other' WHERE key_id = $1", new.key_id
            )


async def test_the_service_role_may_prune_the_vendor_webhook_inbox_and_only_that(pool, service_url):
    await store.append(pool, "order:c:kept", [order_requested("kept")], 0)
    long_ago = datetime.now(UTC) - timedelta(days=100)
    await pool.execute(
        "INSERT INTO vendor_webhook_inbox (vendor, received_at, outcome, headers, body_sha256,"
        " body_bytes) VALUES ('sandbox', $1, 'refused', '{}', '', 0)",
        long_ago,
    )
    async with connected(service_url) as conn:
        assert await inbox.prune(conn, long_ago + timedelta(days=1)) == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM webhook_receipts")
    assert await pool.fetchval("SELECT count(*) FROM events") == 1


async def test_the_stamp_cannot_be_fooled_by_objects_the_service_may_create(pool, service_url):
    """A writer that may create objects cannot shadow what the stamp uses."""
    async with connected(service_url) as conn:
        await conn.execute(
            "CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz"
            " LANGUAGE sql AS $$ SELECT '2001-01-01T00:00:00Z'::timestamptz $$"
        )
        # event_hash is inlined into the stamp (0013): its sha256() must still be pg_catalog's.
        await conn.execute(
            "CREATE FUNCTION public.sha256(bytea) RETURNS bytea"
            " LANGUAGE sql AS $$ SELECT '\\x00'::bytea $$"
        )
        await conn.execute("CREATE TEMP TABLE events (LIKE public.events)")
        await conn.execute("SET search_path = public, pg_temp, pg_catalog")
        shadow = await conn.fetchval("SELECT sha256('\\x01'::bytea)")
        assert shadow == b"\x00", "the writer's own sha256() is what this session resolves"
        event = order_requested("shadowed")
        await store.append(conn, "order:c:shadowed", [event], 0)
        recorded = await conn.fetchrow(
            "SELECT recorded_at, hash FROM public.events WHERE stream_id = 'order:c:shadowed'"
        )
    assert recorded["recorded_at"].year > 2001
    expected = link_hash(GENESIS, "order:c:shadowed", 1, "OrderRequested", ev.encode(event))
    assert recorded["hash"] == expected


@pytest.mark.parametrize(
    ("type_", "payload"),
    [
        ("WebhookReceived", b'{"type":"OrderRequested","client_id":"x","idempotency_key":"k"}'),
        ("OrderRequested", b'{"type":"OrderRequested","idempotency_key":"k"}'),
    ],
    ids=["an_order_typed_as_something_else", "an_order_without_a_client"],
)
async def test_the_log_refuses_an_order_that_hides_its_type_or_its_owner(pool, type_, payload):
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO events (stream_id, version, type, data, hash)"
                " VALUES ('order:c:k', 1, $1, $2, ''::bytea)",
                type_,
                payload,
            )


async def test_a_revoked_or_expiring_key_cannot_be_revived_by_the_service(pool, service_url):
    async with connected(service_url) as conn:
        soon = datetime.now(UTC) + timedelta(hours=1)
        created, _ = await create_key(conn, name="shop", scopes=["orders:write"], expires_at=soon)
        await revoke_key(conn, created.key_id)
        for statement in (
            "UPDATE api_keys SET revoked_at = NULL WHERE key_id = $1",
            "UPDATE api_keys SET expires_at = 'infinity' WHERE key_id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement, created.key_id)


async def test_a_login_that_owns_the_log_is_warned_about_whatever_role_it_acts_as(database_url):
    async with connected(with_role(database_url, ROLE)) as conn:
        assert await conn.fetchval("SELECT current_user") == ROLE
        assert await role_warnings(conn)  # the login may RESET ROLE back to itself


async def test_the_service_login_prepares_nothing_and_warns_of_nothing(service_url):
    login_url = service_url.split("?role=")[0].split("&role=")[0]
    async with connected(login_url) as conn:
        with structlog.testing.capture_logs() as logs:
            await prepare_database(conn, ROLE, read_model_tables(), wait=False)
    assert [entry["event"] for entry in logs] == []
