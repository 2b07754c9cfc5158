import asyncio

import asyncpg
import pytest

from ledger.log import store
from ledger.log.events import OrderFailed, OrderRequested, encode
from tests.factories import order_requested


async def test_appending_to_a_new_stream_starts_at_version_one(pool):
    version = await store.append(pool, "order:c:k1", [order_requested("k1")], 0)
    assert version == 1
    events = await store.read_stream(pool, "order:c:k1")
    assert [(e.version, e.type) for e in events] == [(1, "OrderRequested")]
    assert isinstance(events[0].decode(), OrderRequested)


async def test_a_batch_append_numbers_events_consecutively_and_chains_hashes(pool):
    first = order_requested("k1")
    failed = OrderFailed(reason="x", source="vendor", failed_at=first.requested_at)
    version = await store.append(pool, "s", [first, failed, failed], 0)
    assert version == 3
    rows = await pool.fetch("SELECT version, hash FROM events ORDER BY version")
    assert [r["version"] for r in rows] == [1, 2, 3]
    assert len({r["hash"] for r in rows}) == 3


async def test_a_stale_expected_version_raises_concurrency_conflict(pool):
    await store.append(pool, "s", [order_requested("a")], 0)
    with pytest.raises(store.ConcurrencyConflict):
        await store.append(pool, "s", [order_requested("b")], 0)
    with pytest.raises(store.ConcurrencyConflict):
        await store.append(pool, "s", [order_requested("b")], 5)
    assert len(await store.read_stream(pool, "s")) == 1


async def test_two_writers_racing_on_one_stream_exactly_one_wins(pool):
    async def writer(key: str) -> bool:
        try:
            await store.append(pool, "race", [order_requested(key)], 0)
            return True
        except store.ConcurrencyConflict:
            return False

    results = await asyncio.gather(*(writer(f"w{i}") for i in range(10)))
    assert sum(results) == 1
    assert len(await store.read_stream(pool, "race")) == 1


async def test_payload_bytes_are_stored_exactly(pool):
    event = order_requested("exact")
    await store.append(pool, "s", [event], 0)
    stored = await pool.fetchval("SELECT data FROM events")
    assert stored == encode(event)
    as_json = await pool.fetchval("SELECT convert_from(data, 'UTF8')::jsonb ->> 'type' FROM events")
    assert as_json == "OrderRequested"


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET type = 'X'", "DELETE FROM events", "TRUNCATE events"],
)
async def test_the_database_refuses_to_change_or_remove_events(pool, statement):
    await store.append(pool, "s", [order_requested("a")], 0)
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)
        # Even with replication role (which disables ordinary triggers) as the table owner.
        await conn.execute("SET session_replication_role = replica")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)
        await conn.execute("RESET session_replication_role")
    assert len(await store.read_stream(pool, "s")) == 1
