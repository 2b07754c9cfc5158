"""Finance reads from a streaming replica (READ_DATABASE_URL) while it keeps up.

Every serving node watches the replica's lag once a second and sends the read routes there
while it is within READ_MAX_LAG_S, to the primary otherwise (and while the replica cannot be
reached), so a replica that falls behind costs the primary load, never a stale report.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from aiohttp import web

from ledger.db import DATABASE_ERRORS, create_pool
from ledger.http.keys import POOL, SETTINGS
from ledger.metrics import METRICS

log = structlog.get_logger(__name__)
# Often enough that a replica falling behind stops serving within a second of its bound.
WATCH_INTERVAL_S = 1.0
# A replica that stops answering (packets dropped, not refused) held the probe for the kernel's
# TCP timeout, about 15 minutes, while reads kept going to it: two intervals, then it is away.
PROBE_TIMEOUT_S = 2.0
_PRIMARY_LSN = "SELECT (pg_current_wal_lsn() - '0/0')::bigint"
_REPLAYED = """
    SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint AS lsn,
           extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS age_s"""


def replica_lag_s(
    primary_lsn: int, replayed_lsn: int | None, replay_age_s: float | None
) -> float | None:
    """Seconds the replica is behind, None when unknown (not a replica, nothing replayed).

    primary_lsn is read before the replica is asked: a replica that has replayed that far was
    current when it answered. Behind it, the lag is the age of the last transaction replayed
    (the replica's own clock, as pg_stat_replication reckons it)."""
    if replayed_lsn is None:
        return None
    if replayed_lsn >= primary_lsn:
        return 0.0
    return replay_age_s


class ReplicaWatch:
    def __init__(self, url: str, max_lag_s: float) -> None:
        self._url, self.max_lag_s = url, max_lag_s
        self.pool: asyncpg.Pool | None = None
        self.lag_s: float | None = None

    @property
    def serving(self) -> bool:
        return self.pool is not None and self.lag_s is not None and self.lag_s <= self.max_lag_s

    async def observe(self, primary: asyncpg.Pool) -> None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                if self.pool is None:
                    self.pool = await create_pool(self._url, min_size=1, max_size=10)
                primary_lsn = await primary.fetchval(_PRIMARY_LSN)
                row = await self.pool.fetchrow(_REPLAYED)
            self.lag_s = replica_lag_s(primary_lsn, row["lsn"], row["age_s"])
        except (*DATABASE_ERRORS, TimeoutError) as exc:
            if self.lag_s is not None:
                log.warning("read replica unusable, reading from the primary", error=str(exc))
            self.lag_s = None
        METRICS.replica_lag_seconds.set(-1 if self.lag_s is None else self.lag_s)
        METRICS.replica_serving.set(float(self.serving))

    def checks(self) -> dict[str, object]:
        """What /readyz shows (never failing on it: the primary serves the reads meanwhile)."""
        return {
            "lag_s": self.lag_s,
            "max_lag_s": self.max_lag_s,
            "reads_from": "replica" if self.serving else "primary",
        }

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


REPLICA = web.AppKey("replica", ReplicaWatch)


async def replica_ctx(app: web.Application) -> contextlib.AsyncIterator[None]:
    url = app[SETTINGS].read_database_url
    if url:
        app[REPLICA] = ReplicaWatch(url, app[SETTINGS].read_max_lag_s)
    yield
    if url:
        await app[REPLICA].close()


async def watch_replica(app: web.Application, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await app[REPLICA].observe(app[POOL])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), WATCH_INTERVAL_S)


def read_pool(app: web.Application) -> asyncpg.Pool:
    """Where a finance read goes now: the replica while it keeps up, else the primary."""
    watch = app.get(REPLICA)
    if watch is not None and watch.serving and watch.pool is not None:
        METRICS.finance_reads.labels("replica").inc()
        return watch.pool
    METRICS.finance_reads.labels("primary").inc()
    return app[POOL]
