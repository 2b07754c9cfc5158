import asyncio
import random

import asyncpg

from ledger.log import store
from ledger.log.events import (
    OrderFulfilled,
    OrderRefunded,
    VendorCallFailed,
    VendorRequestSent,
    VendorResponseReceived,
)
from ledger.log.store import Cursor
from projections.checkpoints import ensure_projection
from projections.gl.projection import GLProjection
from projections.orders import OrdersProjection
from projections.rebuild import rebuild
from projections.runner import catch_up, run_projection
from tests.factories import T0, order_requested
from tests.waiting import caught_up


async def random_workload(
    pool: asyncpg.Pool, rng: random.Random, orders: int, first: int = 0
) -> None:
    """Orders that move through sends, failures, responses, fulfilments and refunds."""

    async def one(i: int) -> None:
        stream = f"order:c{i % 3}:key-{i}"
        history = [
            order_requested(f"key-{i}", amount_minor=rng.randint(1, 10_000), client=f"c{i % 3}")
        ]
        for attempt in range(1, rng.randint(1, 3) + 1):
            history.append(
                VendorRequestSent(
                    vendor="sandbox", vendor_reference="r", attempt=attempt, sent_at=T0
                )
            )
            if rng.random() < 0.4:
                history.append(
                    VendorCallFailed(
                        vendor="sandbox",
                        attempt=attempt,
                        reason="timeout",
                        detail="t",
                        failed_at=T0,
                    )
                )
        choice = rng.random()
        if choice < 0.5:
            history.append(
                VendorResponseReceived(
                    vendor="sandbox",
                    attempt=1,
                    outcome="fulfilled",
                    vendor_order_id=f"vo{i}",
                    received_at=T0,
                )
            )
            if rng.random() < 0.3:
                history.append(OrderRefunded(amount_minor=1, source="manual", refunded_at=T0))
        elif choice < 0.8:
            history.append(
                OrderFulfilled(vendor_order_id=None, source="reconciliation", fulfilled_at=T0)
            )
        version = 0
        while history:
            take = rng.randint(1, len(history))
            version = await store.append(pool, stream, history[:take], version)
            history = history[take:]
            await asyncio.sleep(rng.random() / 1000)

    await asyncio.gather(*(one(i) for i in range(first, first + orders)))


async def test_the_runner_folds_every_event_once_and_checkpoints_with_the_rows(pool):
    projection = OrdersProjection()
    await random_workload(pool, random.Random(1), 60)
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        applied = await caught_up(conn, projection)
        assert applied == await conn.fetchval("SELECT count(*) FROM events")
        assert await catch_up(conn, projection) == 0
        rows = await conn.fetch("SELECT stream_id, version FROM orders_view ORDER BY stream_id")
        heads = await conn.fetch(
            "SELECT stream_id, max(version) AS version FROM events GROUP BY 1 ORDER BY 1"
        )
        assert [tuple(r) for r in rows] == [tuple(r) for r in heads]


async def test_a_rebuild_after_a_random_workload_equals_the_live_read_model_twice(
    pool, database_url
):
    projection = OrdersProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
    stop = asyncio.Event()
    runner = asyncio.create_task(run_projection(database_url, projection, stop, 0.05))
    await random_workload(pool, random.Random(2), 120)
    async with pool.acquire() as conn:
        # While the live runner keeps working, verify and swap must both agree with it.
        assert await rebuild(conn, projection, verify_only=True) == []
        assert await rebuild(conn, projection) == []
        await random_workload(pool, random.Random(3), 30, first=1000)
        assert await rebuild(conn, projection, verify_only=True) == []
    stop.set()
    await runner


async def test_verify_names_every_row_that_differs_from_the_rebuild(pool):
    projection = OrdersProjection()
    await random_workload(pool, random.Random(4), 10)
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        await caught_up(conn, projection)
        await conn.execute(
            "UPDATE orders_view SET amount_minor = 1 WHERE stream_id = 'order:c1:key-1'"
        )
        await conn.execute("DELETE FROM orders_view WHERE stream_id = 'order:c2:key-2'")
        differences = await rebuild(conn, projection, verify_only=True)
    assert len(differences) == 2, differences
    assert any("order:c1:key-1].amount_minor: live=1" in d for d in differences)
    assert any(
        "order:c2:key-2]: in the rebuild but missing from the live table" in d for d in differences
    )


async def test_a_gl_rebuild_reads_only_the_types_it_folds_and_its_checkpoint_reaches_the_head(
    pool,
):
    gl = GLProjection()
    await random_workload(pool, random.Random(5), 40)
    async with pool.acquire() as conn:
        # The log ends with an event the GL does not fold: the rebuild never reads it.
        stream = "order:c0:key-0"
        version = await conn.fetchval(
            "SELECT max(version) FROM events WHERE stream_id = $1", stream
        )
        sent = VendorRequestSent(vendor="sandbox", vendor_reference="r", attempt=9, sent_at=T0)
        await store.append(conn, stream, [sent], version)
        await ensure_projection(conn, gl)
        progress: list[tuple[int, int]] = []
        assert (
            await rebuild(conn, gl, progress=lambda done, total, _: progress.append((done, total)))
            == []
        )
        folded = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = ANY($1)", list(gl.handled)
        )
        assert folded < await conn.fetchval("SELECT count(*) FROM events")
        assert progress[-1] == (folded, folded)
        row = await conn.fetchrow(
            "SELECT tx_id, position FROM projection_checkpoints WHERE name = 'gl'"
        )
        assert Cursor(row["tx_id"], row["position"]) == await store.head(conn)
        assert await rebuild(conn, gl, verify_only=True) == []
