"""The completer draining orders through the README's vendor fault mix.

    python bench/completer.py [--orders N] [--faults SPEC] [--database-url URL]

N orders are recorded pending (as a bulk batch records them), then the completer and the orders
projection drain them against a sandbox vendor in its own process, with the service's defaults
(2 s attempt timeout, default breaker, 1 s completer backoff, 1 s poll). Printed:
- the drain rate, against a baseline measured in the same run: the same number of fresh orders
  sent straight to the vendor by a bare retry loop (same concurrency, timeout and key reuse);
- the longest stretch without a create attempt while at least 1% of the orders were pending.
The script also runs at the commit before issue 11 (it adapts to the old completer's signature)
to give the "before" figure. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

# `python bench/completer.py` puts bench/ first on sys.path; the repository root must come first.
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import aiohttp  # noqa: E402

from bench.bulk import KEY, drop, free_port, now, record, scratch, start_sandbox  # noqa: E402
from ledger.bulk import batches as bulk_batches  # noqa: E402
from ledger.db import create_pool, resolve_database_url  # noqa: E402
from ledger.log.leases import OrderLeases  # noqa: E402
from ledger.logs import configure_logging  # noqa: E402
from ledger.orders import completer  # noqa: E402
from ledger.orders.fulfilment import Fulfilment  # noqa: E402
from ledger.orders.vault import CardVault  # noqa: E402
from ledger.vendors.base import Unknown, VendorOrderRequest  # noqa: E402
from ledger.vendors.registry import VendorConfig, build_clients  # noqa: E402
from ledger.vendors.rest import RestVendorAdapter  # noqa: E402
from projections.orders import OrdersProjection  # noqa: E402
from projections.runner import run_projection  # noqa: E402

README_FAULTS = "seed=11,timeout_after_commit=0.3,error_5xx=0.1,rate_429=0.05,latency_ms=20"
# The service's defaults (Settings): what a new user runs with.
ATTEMPT_TIMEOUT_S, BACKOFF_S, POLL_S = 2.0, 1.0, 1.0
# Sends are "stalled" only while this share of the orders is still pending: the last orders
# of a drain legitimately wait out their backoff.
TAIL_SHARE = 0.01

_GAP = """
    WITH settled AS (
        SELECT coalesce(percentile_disc($1::float8) WITHIN GROUP (ORDER BY t), now()) AS cutoff
        FROM (
            SELECT min(recorded_at) AS t FROM events
            WHERE type IN ('VendorResponseReceived', 'OrderFulfilled') GROUP BY stream_id) s),
    sends AS (
        SELECT recorded_at - lag(recorded_at) OVER (ORDER BY recorded_at) AS gap
        FROM events, settled WHERE type = 'VendorRequestSent' AND recorded_at <= settled.cutoff)
    SELECT coalesce(extract(epoch FROM max(gap)), 0), count(*) FILTER (WHERE gap > '5 s')
    FROM sends"""


def make_completer(pool, fulfilment, leases) -> completer.Completer:
    """The completer as the service builds it, at this commit or the one before issue 11."""
    if "backoff_s" in inspect.signature(completer.Completer).parameters:
        return completer.Completer(pool, fulfilment, leases, BACKOFF_S)
    return completer.Completer(pool, fulfilment, leases)


async def drain(
    dsn: str, vendor_url: str, batch: str, deadline_s: float
) -> tuple[float, int, float, int]:
    """(seconds, orders settled, longest stretch without a create, stretches over 5 s)."""
    pool = await create_pool(dsn)
    leases = OrderLeases(dsn)
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        config = VendorConfig(base_url=vendor_url, attempt_timeout_s=ATTEMPT_TIMEOUT_S)
        vendors = build_clients({"sandbox": config}, session, random.Random(1))
        worker = make_completer(pool, Fulfilment(pool, vendors, CardVault(KEY), now), leases)
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(run_projection(dsn, OrdersProjection(), stop, POLL_S)),
            asyncio.create_task(worker.run(stop, POLL_S)),
        ]
        while time.perf_counter() - started < deadline_s:
            progress = await bulk_batches.batch_progress(pool, "bench", batch)
            if progress and progress.complete:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        settled = progress.orders - progress.counts["pending"] if progress else 0
        stop.set()
        await asyncio.gather(*tasks)
    gap, stalls = await pool.fetchrow(_GAP, 1 - TAIL_SHARE)
    await leases.close()
    await pool.close()
    return elapsed, settled, float(gap), stalls


async def bare(vendor_url: str, orders: int, concurrency: int, tag: str) -> float:
    """Every order sent straight to the vendor until it answers, retrying at once, same key."""
    queue = iter(range(orders))
    async with aiohttp.ClientSession() as session:
        adapter = RestVendorAdapter(
            "sandbox", vendor_url, session, None, ATTEMPT_TIMEOUT_S, timedelta(hours=24)
        )

        async def sender() -> None:
            for i in queue:
                req = VendorOrderRequest(f"bare-{tag}-{i:06d}", 100, "USD", "amazon-us", "c")
                while True:
                    outcome = await adapter.create_order(req)
                    if not isinstance(outcome, Unknown):
                        break
                    await asyncio.sleep(outcome.retry_after or 0)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return time.perf_counter() - started


async def main() -> None:
    configure_logging("warning")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3_000)
    parser.add_argument("--faults", default=README_FAULTS)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--deadline-s", type=float, default=600.0, help="give up draining after")
    args = parser.parse_args()
    server = await resolve_database_url(args.database_url, ROOT / ".data")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = await start_sandbox(port, args.faults)
    try:
        print(f"orders={args.orders} cpus={os.cpu_count()} faults={args.faults}")
        baseline = await bare(url, args.orders, completer.CONCURRENCY, str(port))
        print(
            f"baseline  bare retry loop x{completer.CONCURRENCY}: {baseline:6.1f} s"
            f"  {args.orders / baseline:6.0f} orders/s"
        )
        name, dsn = await scratch(server)
        try:
            _, batch = await record(dsn, args.orders, {}, f"c{port}")
            elapsed, settled, gap, stalls = await drain(dsn, url, batch, args.deadline_s)
        finally:
            await drop(server, name)
        rate = settled / elapsed
        line = f"completer drain x{completer.CONCURRENCY}:        {elapsed:6.1f} s  {rate:6.0f}"
        print(f"{line} orders/s  ratio {rate / (args.orders / baseline):4.2f}")
        if settled < args.orders:
            print(f"  gave up: {args.orders - settled} of {args.orders} still pending")
        print(f"longest stretch without a create attempt: {gap:5.1f} s ({stalls} over 5 s)")
    finally:
        sandbox.terminate()
        await sandbox.wait()


if __name__ == "__main__":
    asyncio.run(main())
