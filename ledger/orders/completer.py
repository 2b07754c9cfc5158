"""The completer: finishes every order left pending (a crash, a timeout, an open circuit).

Any number of nodes may run it: each order is worked only under its lease. Orders are retried
with exponential backoff on their last change, always with the same vendor reference.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from ledger.log.leases import OrderLeases
from ledger.log.wakeup import sleep_until_woken
from ledger.orders.fulfilment import Fulfilment

log = structlog.get_logger(__name__)

# An order untouched for base * 2^attempts seconds (Settings.completer_backoff_s) is due; the
# cap keeps a long vendor outage from stretching recovery once the vendor is back.
BACKOFF_CAP_S = 300.0
# Orders worked at once per node: enough to drain a backlog, few enough to respect a vendor
# (whose published rate goes in VENDORS_FILE as rate_limit_per_s). A slot mostly waits on the
# vendor, so throughput grows with it: bench/bulk.py, 10,000 bulk rows against a sandbox with
# 10% 5xx and 10% hung creates, drained 105 orders/s at 8, 197 at 16, 357 at 32 (scan 1000).
# 16 stays below the service pool's 20 connections and doubles the old rate.
CONCURRENCY = 16
# Orders fetched per scan. A scan ends when its slowest order does (a hung attempt, retries),
# so a short scan leaves slots idle: at 200, 32 slots drained no faster than 8 (112 vs 105/s).
SCAN_LIMIT = 1000

_DUE = """
    SELECT stream_id FROM orders_view
    WHERE status = 'pending'
      AND updated_at < clock_timestamp()
          - make_interval(secs => least($1 * power(2, least(attempts, 20)), $2))
    ORDER BY updated_at
    LIMIT $3"""


class Completer:
    def __init__(
        self, pool: asyncpg.Pool, fulfilment: Fulfilment, leases: OrderLeases, backoff_s: float
    ) -> None:
        self._pool, self._fulfilment, self._leases = pool, fulfilment, leases
        self._backoff_s = backoff_s
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def due(self) -> list[str]:
        rows = await self._pool.fetch(_DUE, self._backoff_s, BACKOFF_CAP_S, SCAN_LIMIT)
        return [r["stream_id"] for r in rows]

    async def complete(self, stream_id: str) -> None:
        async with self._slots:
            if not await self._leases.try_acquire(stream_id):
                return  # a request or another node is working on it
            try:
                await self._fulfilment.advance(stream_id, {"actor": "completer"})
            except Exception:
                log.exception("completing order failed", stream_id=stream_id)
            finally:
                await self._leases.release(stream_id)

    async def run_once(self) -> int:
        due = await self.due()
        await asyncio.gather(*(self.complete(s) for s in due))
        return len(due)

    async def run(self, stop: asyncio.Event, poll_interval: float) -> None:
        idle = asyncio.Event()  # never set: the completer works on a timer, not on NOTIFY
        while not stop.is_set():
            try:
                await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("completer scan failed, will retry", error=str(exc))
            await sleep_until_woken(idle, stop, poll_interval)
