"""A primary and a streaming replica made with the machine's PostgreSQL binaries: the primary
crashes under load and the replica is promoted; the nodes carry on through the multi-host
DATABASE_URL without a restart (issue 19). And a failover that lost committed events is
found by `verify --digest` against a digest published before it."""

from __future__ import annotations

import asyncio
import os
import subprocess

import aiohttp
import asyncpg
import pytest

from ledger.log import store
from tests.cli import run_cli
from tests.clusters import Cluster
from tests.e2e.fleet.nodes import Fleet, place, until_caught_up
from tests.factories import order_requested

ORDERS = 200
CONCURRENCY = 8
# The primary crashes a third of the way through the load.
CRASH_AT = ORDERS // 3
pytestmark = pytest.mark.slow


def both(primary: Cluster, replica: Cluster) -> str:
    """The multi-host URL libpq and asyncpg take: the first host that accepts writes."""
    return (
        f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{replica.port}/postgres"
        "?target_session_attrs=read-write"
    )


async def _replicate_synchronously(primary: Cluster) -> None:
    """Commits wait for the replica's flush: a crash of the primary then loses nothing that
    was acknowledged (docs/operations.md, "Failover", for the asynchronous case)."""
    conn = await asyncpg.connect(primary.url)
    try:
        await conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        await conn.execute("SELECT pg_reload_conf()")
        for _ in range(100):
            if await conn.fetchval("SELECT sync_state FROM pg_stat_replication") == "sync":
                return
            await asyncio.sleep(0.1)
        raise TimeoutError("the replica never became synchronous")
    finally:
        await conn.close()


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"})


async def test_nodes_carry_on_on_a_promoted_replica_losing_and_doubling_no_acknowledged_order(
    replicated, tmp_path
):
    primary, replica = replicated
    await _replicate_synchronously(primary)
    fleet = Fleet(both(primary, replica), tmp_path, "seed=23,latency_ms=30,error_5xx=0.1")
    try:
        headers = await fleet.client_headers()
        api, workers = await fleet.node("api"), await fleet.node("workers")
        keys = [f"failover-order-{i:04d}" for i in range(ORDERS)]
        acknowledged_before_crash: list[str] = []
        crashed = False
        gate = asyncio.Semaphore(CONCURRENCY)
        reached = asyncio.Event()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

            async def submit(key: str) -> None:
                async with gate:
                    await place(session, api.url, key, headers)
                if not crashed:
                    acknowledged_before_crash.append(key)
                if len(acknowledged_before_crash) == CRASH_AT:
                    reached.set()

            load = [asyncio.create_task(submit(key)) for key in keys]
            await reached.wait()
            crashed = True
            await asyncio.to_thread(primary.stop, "immediate")
            await asyncio.to_thread(replica.promote)
            await asyncio.gather(*load)

            await fleet.assert_settled_once(session, api.url, headers, keys)
            # Accepted before the crash, and after it on the new primary: both kinds settled.
            assert CRASH_AT <= len(acknowledged_before_crash) < ORDERS
            assert await until_caught_up(session, workers) == {
                "orders": 0,
                "discrepancies": 0,
                "gl": 0,
            }
        verified = await asyncio.to_thread(cli, replica.url, "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        fleet.stop()


async def test_a_failover_that_lost_committed_events_fails_verify_against_the_last_digest(
    replicated, tmp_path
):
    primary, replica = replicated
    assert (await asyncio.to_thread(cli, primary.url, "migrate")).returncode == 0
    pool = await asyncpg.create_pool(primary.url, min_size=1, max_size=2)
    try:
        await store.append(pool, "order:c:a", [order_requested("a")], 0)
        first = await asyncio.to_thread(cli, primary.url, "digest")
        await _caught_up(primary, replica)
        # Asynchronous replication falling behind: the replica stops receiving, the primary
        # goes on committing and publishes a digest of what the replica will never see.
        conn = await asyncpg.connect(replica.url)
        try:
            await conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()
        await store.append(pool, "order:c:b", [order_requested("b")], 0)
        second = await asyncio.to_thread(cli, primary.url, "digest")
    finally:
        await pool.close()
    digests = tmp_path / "digests.jsonl"
    digests.write_text(first.stdout.splitlines()[-1] + "\n" + second.stdout.splitlines()[-1] + "\n")
    await asyncio.to_thread(primary.stop, "immediate")
    await asyncio.to_thread(replica.promote)

    plain = await asyncio.to_thread(cli, replica.url, "verify")
    assert plain.returncode == 0, plain.stdout  # what is left is whole: the chain cannot tell
    caught = await asyncio.to_thread(cli, replica.url, "verify", "--digest", str(digests))
    assert caught.returncode == 1, caught.stdout
    assert "after the digest of" in caught.stdout and "(which still holds)" in caught.stdout
    assert "is missing (a failover or restore lost committed events)" in caught.stdout


async def _caught_up(primary: Cluster, replica: Cluster) -> None:
    conn = await asyncpg.connect(primary.url)
    try:
        target = await conn.fetchval("SELECT pg_current_wal_lsn()")
    finally:
        await conn.close()
    conn = await asyncpg.connect(replica.url)
    try:
        for _ in range(100):
            if await conn.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the replica did not catch up")
    finally:
        await conn.close()
