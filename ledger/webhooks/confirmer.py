"""The confirmer: follows the log and, for each webhook about an order, asks the vendor now.

It is the fast path only. The hint itself is durable: WebhookReceived makes the order due
(`hint_pending`, `next_attempt_at` in its state) until a lookup answers, so an order whose
lease is busy, or whose lookup fails, is taken up by the completer on its schedule, after a
restart too. No transaction is held while it works: a batch is confirmed, then the checkpoint
moves. One node runs it (advisory lease).
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from ledger.log import store
from ledger.log.followers import follow_with_lease
from ledger.log.leases import OrderLeases
from ledger.log.store import Cursor
from ledger.orders.fulfilment import Fulfilment

log = structlog.get_logger(__name__)

NAME = "confirmer"
# Events read per round; webhooks are a small share of them.
BATCH_SIZE = 500
# Vendor lookups at once: quick confirmation without bursting past a vendor's rate limit.
CONCURRENCY = 8


class Confirmer:
    def __init__(self, fulfilment: Fulfilment, leases: OrderLeases) -> None:
        self._fulfilment, self._leases = fulfilment, leases
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def confirm(self, stream_id: str) -> None:
        async with self._slots:
            if not await self._leases.try_acquire(stream_id):
                return  # being worked right now; the hint keeps it due for the completer
            try:
                await self._fulfilment.confirm(stream_id, {"actor": NAME})
            except Exception:
                # The hint is still pending in the order's state: the completer asks again.
                log.exception("confirming order failed", stream_id=stream_id)
            finally:
                await self._leases.release(stream_id)

    async def confirm_batch(self, conn: asyncpg.Connection) -> int:
        row = await conn.fetchrow(
            "SELECT tx_id, position FROM projection_checkpoints WHERE name = $1", NAME
        )
        batch = await store.read_all(conn, Cursor(row["tx_id"], row["position"]), BATCH_SIZE)
        if not batch:
            return 0
        hinted = {
            e.stream_id
            for e in batch
            if e.type == "WebhookReceived" and e.stream_id.startswith("order:")
        }
        await asyncio.gather(*(self.confirm(s) for s in sorted(hinted)))
        last = batch[-1].cursor
        await conn.execute(
            "UPDATE projection_checkpoints SET tx_id = $2, position = $3,"
            " updated_at = clock_timestamp() WHERE name = $1",
            NAME,
            last.tx_id,
            last.position,
        )
        return len(batch)

    async def run(self, dsn: str, stop: asyncio.Event, poll_interval: float) -> None:
        async def start(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING", NAME
            )

        async def step(conn: asyncpg.Connection) -> bool:
            return await self.confirm_batch(conn) == BATCH_SIZE

        await follow_with_lease(dsn, NAME, stop, poll_interval, step, start)
