"""The replica watch's probe is bounded: a replica that stops answering (its packets dropped,
not refused) stops serving reads within the probe's timeout, not the kernel's 15 minutes."""

from __future__ import annotations

import asyncio

from ledger.http.runtime import replica
from ledger.http.runtime.replica import ReplicaWatch


class Primary:
    async def fetchval(self, sql: str) -> int:
        return 100


class SilentReplica:
    async def fetchrow(self, sql: str):
        await asyncio.sleep(3600)


async def test_a_replica_that_stops_answering_stops_serving_within_the_probe_timeout(
    monkeypatch,
):
    monkeypatch.setattr(replica, "PROBE_TIMEOUT_S", 0.1)
    watch = ReplicaWatch("postgresql://replica.invalid/db", max_lag_s=5.0)
    watch.pool = SilentReplica()
    watch.lag_s = 0.0  # it was keeping up a moment ago
    assert watch.serving
    await asyncio.wait_for(watch.observe(Primary()), 2.0)
    assert watch.lag_s is None and not watch.serving
    assert watch.checks()["reads_from"] == "primary"
