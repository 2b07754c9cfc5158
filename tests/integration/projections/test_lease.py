"""Two nodes run the same projection: one works, the other waits and takes over."""

import asyncio

from ledger.log import store
from projections.checkpoints import ensure_projection
from projections.orders import OrdersProjection
from projections.runner import run_projection
from tests.factories import order_requested


async def holders(pool) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = 1 AND objid = hashtext('orders')::oid"
        # Advisory locks are server-wide: count only this test's database.
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )


async def applied(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM orders_view")


async def wait_for(predicate, within_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


async def test_a_second_node_waits_for_the_lease_and_takes_over_when_the_first_stops(
    pool, database_url
):
    async with pool.acquire() as conn:
        await ensure_projection(conn, OrdersProjection())
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(run_projection(database_url, OrdersProjection(), first_stop, 0.05))
    await store.append(pool, "order:c:a", [order_requested("a")], 0)
    await wait_for(lambda: _equals(applied(pool), 1))
    second = asyncio.create_task(
        run_projection(database_url, OrdersProjection(), second_stop, 0.05)
    )
    await asyncio.sleep(0.3)
    assert await holders(pool) == 1, "exactly one node holds the projection's lease"

    first_stop.set()  # the first node goes away; its connection and lease with it
    await first
    await store.append(pool, "order:c:b", [order_requested("b")], 0)
    await wait_for(lambda: _equals(applied(pool), 2))
    assert await holders(pool) == 1
    second_stop.set()
    await second


async def _equals(value, expected) -> bool:
    return await value == expected
