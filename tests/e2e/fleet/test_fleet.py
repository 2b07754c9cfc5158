"""Two API nodes and two worker nodes on one database, vendor faults on, the busy worker node
killed with SIGKILL under load: every accepted order settles once, every projection catches
up, and the survivor holds every lease (issue 19)."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import pytest

from tests.e2e.fleet.nodes import TERMINAL, Fleet, Node, place, statuses, until_caught_up

ORDERS = 300
CONCURRENCY = 16
# The worker node dies a third of the way through the load, with orders still in flight.
KILL_AT = ORDERS // 3
# Every follower lease a worker node takes: the three projections, the vendor webhook confirmer,
# and the merchant webhook announcer and deliverer.
FOLLOWER_LEASES = {
    "orders",
    "discrepancies",
    "gl",
    "confirmer",
    "webhook_announcer",
    "webhook_deliveries",
}
# A killed node's sessions close with it, so its leases are free at once and the survivor
# takes them on its next poll (POLL_INTERVAL_S 0.1 here): seconds would mean a stuck lease.
HANDOVER_BOUND_S = 5.0
pytestmark = pytest.mark.slow


async def leases_on(session: aiohttp.ClientSession, node: Node, wanted: set[str], within_s: float):
    """Seconds until `node` holds every lease in `wanted` (TimeoutError past within_s)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while (held := await node.leases_held(session)) != wanted:
        if loop.time() - started > within_s:
            raise TimeoutError(f"{node.role} node holds {sorted(held)} after {within_s} s")
        await asyncio.sleep(0.05)
    return loop.time() - started


async def test_a_killed_worker_node_loses_no_order_and_hands_its_leases_to_the_other(
    database_url, tmp_path
):
    fleet = Fleet(
        database_url, tmp_path, "seed=19,latency_ms=30,error_5xx=0.2,timeout_after_commit=0.2"
    )
    try:
        headers = await fleet.client_headers()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            busy = await fleet.node("workers")
            await leases_on(session, busy, FOLLOWER_LEASES, within_s=30)
            apis = [await fleet.node("api"), await fleet.node("api")]
            survivor = await fleet.node("workers")
            assert await apis[0].leases_held(session) == set()
            assert await survivor.leases_held(session) == set(), "the first node holds them"

            keys = [f"fleet-order-{i:04d}" for i in range(ORDERS)]
            gate = asyncio.Semaphore(CONCURRENCY)
            placed: list[str] = []
            reached = asyncio.Event()

            async def spread(n: int, key: str) -> None:
                async with gate:
                    await place(session, apis[n % len(apis)].url, key, headers)
                placed.append(key)
                if len(placed) == KILL_AT:
                    reached.set()

            load = [asyncio.create_task(spread(n, key)) for n, key in enumerate(keys)]
            await reached.wait()
            found = await statuses(session, apis[0].url, headers, list(placed))
            unsettled_at_kill = [key for key, status in found.items() if status not in TERMINAL]
            busy.kill()
            handover_s = await leases_on(session, survivor, FOLLOWER_LEASES, HANDOVER_BOUND_S)
            await asyncio.gather(*load)
            print(f"leases handed over {handover_s:.2f} s after the SIGKILL")
            assert unsettled_at_kill, "no order was left to the worker nodes at the kill"

            await fleet.assert_settled_once(session, apis[1].url, headers, keys)
            assert await until_caught_up(session, survivor) == {
                "orders": 0,
                "discrepancies": 0,
                "gl": 0,
            }
            # The survivor's completer finished what the API nodes left to the workers.
            assert await survivor.vendor_calls(session) > 0
            conn = await asyncpg.connect(database_url)
            try:
                holders = await conn.fetch(
                    """SELECT DISTINCT a.application_name FROM pg_locks l
                       JOIN pg_stat_activity a USING (pid)
                       WHERE l.locktype = 'advisory' AND l.classid = 1"""
                )
            finally:
                await conn.close()
            assert [r[0].split()[:2] for r in holders] == [["ledger", "workers"]]
            assert holders[0][0].endswith(f":{survivor.process.pid}")
    finally:
        fleet.stop()
