"""The completer: works every order the log says is owed a step (pending, or holding a webhook
hint no lookup has answered), when its schedule says so.

Any number of nodes may run it: each order is worked only under its lease. The schedule is in
the order's own state (`next_attempt_at`, moved by RetryScheduled after every unsettled step),
so an order the vendor keeps pending, an open circuit or a vendor missing from configuration
backs off on its own and never crowds out orders that are due.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog

from ledger.db import DATABASE_ERRORS
from ledger.log.leases import OrderLeases
from ledger.orders.fulfilment import Fulfilment
from ledger.orders.model import is_due

log = structlog.get_logger(__name__)

# Orders worked at once per node: enough to drain a backlog, few enough to respect a vendor
# (whose published rate goes in VENDORS_FILE as rate_limit_per_s). A slot mostly waits on the
# vendor, so throughput grows with it: bench/bulk.py, 10,000 bulk rows against a sandbox with
# 10% 5xx and 10% hung creates, drained 105 orders/s at 8, 197 at 16, 357 at 32.
# 16 stays below the service pool's 20 connections.
CONCURRENCY = 16
# Orders fetched ahead of the slots: a slot that frees takes the next due order without
# waiting for a scan, and a hung attempt holds one slot, not a whole scan.
QUEUE_DEPTH = 2 * CONCURRENCY
# Wait for stragglers this long at shutdown; each is journaled whether it finishes or not.
STOP_GRACE_S = 5.0

# next_attempt_at is NULL for orders owed nothing, so its index (projections/orders.py) hands
# the scan the due ones, oldest schedule first, however many settled orders the table holds.
_DUE = """
    SELECT stream_id FROM orders_view
    WHERE next_attempt_at <= clock_timestamp()
    ORDER BY next_attempt_at
    LIMIT $1"""


class Completer:
    def __init__(self, pool: asyncpg.Pool, fulfilment: Fulfilment, leases: OrderLeases) -> None:
        self._pool, self._fulfilment, self._leases = pool, fulfilment, leases
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._working: set[str] = set()
        self._worked = asyncio.Event()  # set when a step finished: a slot is free, look again

    async def due(self, limit: int) -> list[str]:
        """Due orders not already being worked by this node, oldest schedule first."""
        rows = await self._pool.fetch(_DUE, limit + len(self._working))
        return [r["stream_id"] for r in rows if r["stream_id"] not in self._working][:limit]

    async def complete(self, stream_id: str) -> None:
        async with self._slots:
            # The read model may be behind the log: an order settled or rescheduled a moment
            # ago is left alone, and its lease free for a client's replay of it.
            state = await self._fulfilment.load(stream_id)
            if state is None or not is_due(state, self._fulfilment.clock()):
                return
            if not await self._leases.try_acquire(stream_id):
                return  # a request or another node is working on it; still due, seen again
            metadata = {"actor": "completer"}
            try:
                await self._fulfilment.advance(stream_id, metadata)
                self._worked.set()
            except Exception:
                log.exception("completing order failed", stream_id=stream_id)
                # Back off like any unsettled step, so a step that keeps failing (a bug, bad
                # data) is retried on a schedule instead of in a tight loop.
                try:
                    await self._fulfilment.defer(stream_id, "step_failed", metadata)
                except Exception:
                    log.exception("deferring order failed", stream_id=stream_id)
            finally:
                await self._leases.release(stream_id)

    async def run_once(self) -> int:
        """One scan, every due order worked to the end of its step (tests and tools)."""
        due = await self.due(QUEUE_DEPTH)
        await asyncio.gather(*(self.complete(s) for s in due))
        return len(due)

    async def run(self, stop: asyncio.Event, poll_interval: float) -> None:
        tasks: set[asyncio.Task] = set()
        while not stop.is_set():
            self._worked.clear()
            try:
                for stream_id in await self.due(QUEUE_DEPTH - len(self._working)):
                    self._start(stream_id, tasks)
            except DATABASE_ERRORS as exc:
                log.warning("completer scan failed, will retry", error=str(exc))
            # A finished step frees a slot; otherwise the next schedule comes due on a timer.
            waits = [asyncio.ensure_future(e.wait()) for e in (stop, self._worked)]
            await asyncio.wait(waits, timeout=poll_interval, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, stream_id: str, tasks: set[asyncio.Task]) -> None:
        """Work one order in its own task, held in `tasks` while it runs and forgotten when done
        (kept, every finished step stayed in memory for the completer's life)."""
        self._working.add(stream_id)
        task = asyncio.create_task(self.complete(stream_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(lambda _: self._working.discard(stream_id))
