"""READ_DATABASE_URL: finance reads go to a streaming replica while it keeps up, to the primary
once it falls behind READ_MAX_LAG_S, and back when it has caught up; /readyz and /metrics show
its lag (issue 19)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ledger.auth import create_key
from ledger.config import Settings
from ledger.http.app import create_app
from ledger.http.keys import POOL
from ledger.http.runtime.replica import replica_lag_s
from ledger.log import store
from ledger.metrics import METRICS
from tests.factories import order_requested

pytestmark = pytest.mark.slow


async def _until_reads_from(client: TestClient, source: str, within_s: float = 15) -> dict:
    for _ in range(int(within_s / 0.1)):
        replica = (await (await client.get("/readyz")).json())["checks"]["read_replica"]
        if replica["reads_from"] == source:
            return replica
        await asyncio.sleep(0.1)
    raise TimeoutError(f"reads never went to the {source}: {replica}")


async def _reads(client: TestClient, headers: dict[str, str]) -> dict[str, float]:
    """Which database served one finance read of each kind."""
    before = {
        s: METRICS.value("ledger_finance_reads_total", source=s) for s in ("replica", "primary")
    }
    for path in ("/api/v1/discrepancies", "/api/v1/gl/daily?from=2026-12-01&to=2026-12-05"):
        response = await client.get(path, headers=headers)
        assert response.status == 200, await response.text()
    return {s: METRICS.value("ledger_finance_reads_total", source=s) - before[s] for s in before}


async def test_finance_reads_follow_the_replica_while_it_keeps_up_and_the_primary_when_not(
    replicated, tmp_path
):
    primary, replica = replicated
    settings = Settings(
        sandbox_port=0,
        schedules=False,
        data_dir=tmp_path,
        poll_interval_s=0.05,
        read_database_url=replica.url,
        read_max_lag_s=1.0,
    )
    app = create_app(settings, primary.url)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        async with app[POOL].acquire() as conn:
            _, key = await create_key(conn, name="acme", scopes=["finance:read"])
        headers = {"Authorization": f"Bearer {key}"}
        current = await _until_reads_from(client, "replica")
        assert current["lag_s"] <= 1.0
        assert await _reads(client, headers) == {"replica": 2, "primary": 0}

        standby = await asyncpg.connect(replica.url)
        try:
            await standby.execute("SELECT pg_wal_replay_pause()")
            await store.append(app[POOL], "order:c:k", [order_requested("k")], 0)
            behind = await _until_reads_from(client, "primary")
            assert behind["lag_s"] is None or behind["lag_s"] > 1.0
            assert await _reads(client, headers) == {"replica": 0, "primary": 2}
            assert METRICS.value("ledger_read_replica_serving") == 0
            await standby.execute("SELECT pg_wal_replay_resume()")
        finally:
            await standby.close()
        await _until_reads_from(client, "replica")
        assert await _reads(client, headers) == {"replica": 2, "primary": 0}
        assert METRICS.value("ledger_read_replica_serving") == 1


def test_replica_lag_is_zero_once_it_has_replayed_what_the_primary_had_and_its_age_behind():
    assert replica_lag_s(100, 100, 42.0) == 0.0
    assert replica_lag_s(100, 150, None) == 0.0
    assert replica_lag_s(100, 90, 3.5) == 3.5
    assert replica_lag_s(100, None, None) is None  # not a replica: never read from
