"""The loop every log follower shares: hold a lease, wake on NOTIFY or poll, survive errors.

Lease, LISTEN and work share one connection: if it dies the lease goes with it, and the next
step fails rather than running without the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from ledger.db import DATABASE_ERRORS, connect
from ledger.log.leases import LeaseKind, wait_for_lease
from ledger.log.wakeup import listen_for_appends, sleep_until_woken
from ledger.metrics import METRICS

log = structlog.get_logger(__name__)
Step = Callable[[asyncpg.Connection], Awaitable[bool]]
# Every node's followers reconnect at once when the database comes back; past half a minute
# apart they would only delay the recovery, under it a long outage costs a few tries a minute.
RECONNECT_CAP_S = 30.0


def reconnect_delay(failures: int, base_s: float) -> float:
    """Seconds before reconnect number `failures` (1-based): base_s doubling, capped."""
    return min(RECONNECT_CAP_S, base_s * 2 ** min(failures - 1, 16))


async def follow_with_lease(
    dsn: str,
    name: str,
    stop: asyncio.Event,
    poll_interval: float,
    step: Step,
    on_lease: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> None:
    """Run `step` until stop; it returns True while it has more work, so no sleep is needed.

    A lost database is waited out: reconnecting after poll_interval, doubling up to
    RECONNECT_CAP_S while it stays away, and back to poll_interval once a lease is held again.
    """
    failures = 0
    while not stop.is_set():
        conn: asyncpg.Connection | None = None
        try:
            conn = await connect(dsn)
            if not await wait_for_lease(conn, LeaseKind.PROJECTION, name, stop, poll_interval):
                return
            failures = 0
            log.info("lease acquired", follower=name)
            METRICS.lease_acquisitions.labels(name).inc()
            METRICS.leases_held.labels(name).set(1)
            if on_lease is not None:
                await on_lease(conn)
            woken = await listen_for_appends(conn)
            while not stop.is_set():
                woken.clear()
                if not await step(conn):
                    await sleep_until_woken(woken, stop, poll_interval)
        except DATABASE_ERRORS as exc:
            failures += 1
            delay = reconnect_delay(failures, poll_interval)
            log.warning("follower error, retrying", follower=name, error=str(exc), in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        finally:
            METRICS.leases_held.labels(name).set(0)
            if conn is not None:
                await conn.close()
