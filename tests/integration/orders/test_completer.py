"""The completer against PostgreSQL: a step that fails without an outcome is put back on the
schedule, never retried in a tight loop, and a due order is found past settled ones."""

from __future__ import annotations

import asyncio
import gc
import weakref
from datetime import UTC, datetime

from ledger.log import store
from ledger.orders.completer import Completer
from ledger.orders.fulfilment import Fulfilment
from ledger.orders.intake import Intake
from ledger.orders.vault import CardVault
from projections.checkpoints import ensure_projection
from projections.orders import OrdersProjection
from tests.factories import submit_order
from tests.waiting import caught_up


class BrokenStep(Fulfilment):
    """A step that raises before anything is recorded (a bug, a vault that is down)."""

    async def advance(self, stream_id, metadata):
        raise RuntimeError("the step broke")


async def test_a_step_that_keeps_failing_is_deferred_on_a_backoff_not_retried_at_once(pool, leases):
    def now():
        return datetime.now(UTC)

    fulfilment = BrokenStep(pool, {}, CardVault(bytes(32)), now)
    await Intake(fulfilment, leases, now, 1.0).submit(submit_order(source="bulk"), {}, drive=False)
    projection = OrdersProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        await caught_up(conn, projection)
        completer = Completer(pool, fulfilment, leases)
        assert await completer.run_once() == 1
        recorded = await store.read_stream(pool, submit_order(source="bulk").stream_id)
        deferred = [e.decode() for e in recorded if e.type == "RetryScheduled"]
        assert [d.reason for d in deferred] == ["step_failed"]
        assert deferred[0].due_at > deferred[0].scheduled_at
        await caught_up(conn, projection)
        assert await completer.run_once() == 0  # not due again until its backoff has passed


async def test_a_running_completer_keeps_no_finished_step_in_memory(pool, leases):
    """Each step's task was kept for the completer's whole life: gigabytes a week at 100
    steps a second on a worker node."""

    def now():
        return datetime.now(UTC)

    fulfilment = BrokenStep(pool, {}, CardVault(bytes(32)), now)
    for i in range(3):
        cmd = submit_order(idempotency_key=f"kept-{i:04d}", source="bulk")
        await Intake(fulfilment, leases, now, 1.0).submit(cmd, {}, drive=False)
    projection = OrdersProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        await caught_up(conn, projection)
    completer = Completer(pool, fulfilment, leases)
    started: list[weakref.ref] = []
    start = completer._start

    def watched(stream_id, tasks):
        start(stream_id, tasks)
        started.extend(weakref.ref(task) for task in tasks)

    completer._start = watched
    stop = asyncio.Event()
    running = asyncio.create_task(completer.run(stop, poll_interval=0.05))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(started) >= 3 and not completer._working:
                break
        assert len(started) >= 3, "every due order was worked"
        await asyncio.sleep(0.05)
        gc.collect()
        assert [ref for ref in started if ref() is not None and ref().done()] == []
    finally:
        stop.set()
        await running
