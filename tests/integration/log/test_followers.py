"""A follower tailing the log while many writers commit out of allocation order."""

import asyncio
import random

from ledger.log import store
from tests.factories import order_requested

WRITERS = 16
APPENDS_PER_WRITER = 25


async def writer(pool, index: int, rng: random.Random) -> None:
    for n in range(APPENDS_PER_WRITER):
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            # Sleeping inside the transaction makes identity positions commit out of order.
            await asyncio.sleep(rng.random() * 0.01)
            await store.append(
                conn, f"order:w{index}:k{n}", [order_requested(f"k{n}", client=f"w{index}")], 0
            )
            await asyncio.sleep(rng.random() * 0.01)
            if n % 7 == 3:
                await tx.rollback()  # aborted appends must never be seen
            else:
                await tx.commit()


async def test_a_follower_sees_every_committed_event_exactly_once_under_concurrent_writers(pool):
    rng = random.Random(42)
    seen: list[int] = []
    writers_done = asyncio.Event()

    async def follow() -> None:
        cursor = store.CURSOR_ZERO
        async with pool.acquire() as conn:
            while True:
                finished = writers_done.is_set()
                batch = await store.read_all(conn, cursor, limit=17)
                seen.extend(e.position for e in batch)
                if batch:
                    cursor = batch[-1].cursor
                elif finished and len(seen) >= await conn.fetchval("SELECT count(*) FROM events"):
                    # Done once every committed event was delivered (a transaction elsewhere on
                    # the server may hold the snapshot xmin back for a moment).
                    return
                else:
                    await asyncio.sleep(0.001)

    naive_seen: list[int] = []

    async def follow_by_position_alone() -> None:
        last = 0
        async with pool.acquire() as conn:
            while True:
                finished = writers_done.is_set()
                rows = await conn.fetch(
                    "SELECT position FROM events WHERE position > $1 ORDER BY position", last
                )
                naive_seen.extend(r["position"] for r in rows)
                last = rows[-1]["position"] if rows else last
                if finished:
                    return
                await asyncio.sleep(0.001)

    follower = asyncio.create_task(follow())
    naive = asyncio.create_task(follow_by_position_alone())
    await asyncio.gather(*(writer(pool, i, random.Random(rng.random())) for i in range(WRITERS)))
    writers_done.set()
    await asyncio.wait_for(follower, 30)
    await naive

    committed = [r["position"] for r in await pool.fetch("SELECT position FROM events")]
    assert len(seen) == len(set(seen)), "an event was delivered twice"
    assert sorted(seen) == sorted(committed), "an event was skipped"
    rolled_back = sum(1 for n in range(APPENDS_PER_WRITER) if n % 7 == 3)
    assert len(committed) == WRITERS * (APPENDS_PER_WRITER - rolled_back)
    # The workload really commits out of allocation order: reading by position alone skips.
    assert len(set(naive_seen)) < len(committed)
