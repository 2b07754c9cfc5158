"""A projection that cannot apply an event stops loudly and stays stopped at that event: the
error names the positions, the supervisor counts the restarts, /readyz names the worker, and
the checkpoint never moves past it (issue 12, finding 1)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from ledger.http import workers as workers_module
from ledger.http.workers import WORKERS_UP, supervise
from ledger.log import store
from ledger.metrics import METRICS
from projections.checkpoints import ensure_projection
from projections.orders import OrdersProjection
from projections.runner import ProjectionStalled, catch_up_once, run_projection
from tests.factories import order_requested


class ChokesOnBig(OrdersProjection):
    """Stands in for a fold that meets data it cannot store (a value past a column's type)."""

    name = "chokes"

    async def apply(self, conn, names, batch):
        if any(b"999999" in e.data for e in batch):
            raise ValueError("numeric field overflow")
        await super().apply(conn, names, batch)


async def test_a_batch_that_cannot_be_applied_is_named_and_not_skipped(pool, database_url):
    projection = ChokesOnBig()
    await store.append(pool, "order:c:good", [order_requested("good")], 0)
    await store.append(pool, "order:c:big", [order_requested("big", amount_minor=999999)], 0)
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        for _ in range(2):
            with pytest.raises(ProjectionStalled, match=r"positions \d+\.\.\d+") as stalled:
                await catch_up_once(conn, projection)
        checkpoint = await conn.fetchval(
            "SELECT position FROM projection_checkpoints WHERE name = 'chokes'"
        )
    assert stalled.value.last >= stalled.value.first > checkpoint


async def test_a_stalled_projection_worker_is_restarted_counted_and_reported(
    pool, database_url, monkeypatch
):
    monkeypatch.setattr(workers_module, "RESTART_BASE_S", 0.05)
    await store.append(pool, "order:c:big", [order_requested("big", amount_minor=999999)], 0)
    app = web.Application()
    app[WORKERS_UP] = {}
    stop = asyncio.Event()

    async def worker(_app, stop):
        await run_projection(database_url, ChokesOnBig(), stop, 0.05)

    def restarted() -> float:
        return METRICS.value("ledger_worker_restarts_total", worker="projection:chokes")

    before = restarted()
    task = asyncio.create_task(supervise("projection:chokes", worker, app, stop))
    seen_down = False
    for _ in range(100):
        seen_down = seen_down or app[WORKERS_UP].get("projection:chokes") is False
        if restarted() - before >= 2 and seen_down:
            break
        await asyncio.sleep(0.01)
    restarts = restarted() - before
    stop.set()
    await asyncio.wait_for(task, 5)
    assert restarts >= 2 and seen_down  # /readyz names workers that are down (test_workers)
