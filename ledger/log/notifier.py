"""Wake-ups for followers: one NOTIFY per burst of appends, sent outside the appends.

`store.append` pokes every registered notifier after it returns. The notifier coalesces pokes
for a moment and sends one NOTIFY on its own connection, then one trailing NOTIFY, because a
poke from inside a caller's transaction comes before that transaction commits. Followers also
poll, so a wake-up that comes too early (or a writer without a notifier, like a CLI command)
only delays them by the poll interval.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from ledger.db import DATABASE_ERRORS
from ledger.log import store
from ledger.log.wakeup import sleep_until_woken

log = structlog.get_logger(__name__)

# Appends within this window share one NOTIFY: short against a follower's poll, long enough
# that a burst of concurrent appends costs one notification, not hundreds, and that under load
# each follower's batch (a transaction of about seven statements) carries several orders'
# events. 25 ms against 10 ms: new orders +10% in bench/intake.py, PostgreSQL's CPU per order
# -15%; 50 ms gained nothing more (docs/benchmarks.md).
COALESCE_S = 0.025
# One more NOTIFY this long after the last: most transactions that poked have committed by then.
TRAILING_S = 0.05


class AppendNotifier:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._poked = asyncio.Event()
        self.sent = 0

    def poke(self) -> None:
        self._poked.set()

    async def run(self, stop: asyncio.Event) -> None:
        unsubscribe = store.on_append(self.poke)
        try:
            while not stop.is_set():
                try:
                    conn = await asyncpg.connect(self._dsn)
                    try:
                        await self._serve(conn, stop)
                    finally:
                        await conn.close()
                except DATABASE_ERRORS as exc:
                    log.warning("notifier connection lost, retrying", error=str(exc))
                    await asyncio.sleep(1.0)
        finally:
            unsubscribe()

    async def _serve(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not await sleep_until_woken(self._poked, stop, None):
                return
            await asyncio.sleep(COALESCE_S)
            self._poked.clear()
            await self._notify(conn)
            if not await sleep_until_woken(self._poked, stop, TRAILING_S):
                await self._notify(conn)

    async def _notify(self, conn: asyncpg.Connection) -> None:
        await conn.execute("SELECT pg_notify($1, '')", store.NOTIFY_CHANNEL)
        self.sent += 1
