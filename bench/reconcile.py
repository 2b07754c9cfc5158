"""Reconciliation benchmark: a 100,000-record run against the sandbox vendor on loopback.

    python bench/reconcile.py [--records N] [--matched 0.9] [--pending 0.1]
                              [--vendor-latency-ms MS] [--database-url URL]

The sandbox runs in this process and its store is filled directly; our log gets the matching
orders by pipelined bulk appends (a `pending` share of them still pending, which the run heals).
Measured in the same process: the baseline (paging the vendor's listing alone: no matching, no
appends), the reconciliation run, and the run's peak Python memory (tracemalloc, second run).
The sandbox answers a page in microseconds; a vendor on the internet takes tens to hundreds of
milliseconds, which --vendor-latency-ms adds to every page (the sandbox's latency fault, a
sleep: it costs no CPU). Both figures are printed: at 0 the run's own cost shows alone.
A scratch database is created on the server (DATABASE_URL / --database-url, else the embedded
PostgreSQL) and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

# `python bench/reconcile.py` puts bench/ first on sys.path; the repository root takes its place.
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import msgspec  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.scratch import scratch_database  # noqa: E402
from ledger.db import migrate, resolve_database_url  # noqa: E402
from ledger.log import events as ev  # noqa: E402
from ledger.logs import configure_logging  # noqa: E402
from ledger.orders.decisions import vendor_reference  # noqa: E402
from ledger.orders.model import order_stream  # noqa: E402
from ledger.reconciliation.runs import run_reconciliation  # noqa: E402
from ledger.vendors.registry import VendorConfig, build_clients  # noqa: E402
from ledger.vendors.sandbox.faults import parse_faults  # noqa: E402
from ledger.vendors.sandbox.server import SANDBOX_STORE, SandboxConfig, create_sandbox_app  # noqa: E402

# Orders per pipelined executemany when seeding our log: large enough to amortise round trips,
# small enough that one failed batch is cheap to diagnose.
SEED_BATCH = 5_000
# The sandbox's largest page (MAX_PAGE_SIZE), as production would ask for.
PAGE_SIZE = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def our_history(i: int, pending: bool) -> tuple[str, str, list[ev.Event]]:
    stream_id = order_stream("bench", f"bench-{i:07d}")
    reference, at = vendor_reference(stream_id), utcnow()
    requested = ev.OrderRequested(
        client_id="bench",
        idempotency_key=f"bench-{i:07d}",
        customer_id="c",
        brand_id="b",
        amount_minor=2500,
        currency="USD",
        fingerprint="f",
        vendor="sandbox",
        vendor_reference=reference,
        requested_at=at,
    )
    done = ev.OrderFulfilled(vendor_order_id=None, source="vendor", fulfilled_at=at)
    return stream_id, reference, [requested] if pending else [requested, done]


async def seed(pool: asyncpg.Pool, store, records: int, matched: float, pending: float) -> int:
    """Fill the vendor and our log; returns how many of our orders are still pending."""
    rng, rows, refs, still_pending = random.Random(7), [], [], 0
    for i in range(records):
        reference = f"stranger-{i}"
        if rng.random() < matched:
            is_pending = rng.random() < pending
            still_pending += is_pending
            stream_id, reference, history = our_history(i, is_pending)
            types = [ev.type_name(e) for e in history]
            rows.append((stream_id, types, [ev.encode(e) for e in history], ["{}"] * len(types)))
            refs.append(("sandbox", reference, stream_id))
        body = {"reference": reference, "amount_minor": 2500, "currency": "USD"}
        store.admin_create(msgspec.json.encode(body | {"status": "fulfilled"}))
    async with pool.acquire() as conn:
        for start in range(0, len(rows), SEED_BATCH):
            async with conn.transaction():
                await conn.executemany(
                    "SELECT append_events($1, 0, $2, $3, $4::jsonb[])",
                    rows[start : start + SEED_BATCH],
                )
        await conn.copy_records_to_table("order_references", records=refs)
    return still_pending


async def baseline(client, window) -> tuple[int, float]:
    """Page through the vendor's listing and do nothing else: the floor for any run."""
    count, cursor, started = 0, None, time.perf_counter()
    while True:
        page = await client.adapter.list_transactions(*window, cursor, PAGE_SIZE)
        count += len(page.records)
        if (cursor := page.next_cursor) is None:
            return count, time.perf_counter() - started


async def bench(url: str, records: int, matched: float, pending: float, latency_ms: int) -> None:
    async with scratch_database(url, "bench_reconcile") as dsn:
        await _bench(dsn, records, matched, pending, latency_ms)


async def _bench(dsn: str, records: int, matched: float, pending: float, latency_ms: int) -> None:
    faults = parse_faults(f"latency_ms={latency_ms}")
    runner = web.AppRunner(create_sandbox_app(SandboxConfig(faults=faults)), access_log=None)
    pool = None
    try:
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
        async with pool.acquire() as conn:
            await migrate(conn)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        seeded = time.perf_counter()
        healing = await seed(pool, runner.app[SANDBOX_STORE], records, matched, pending)
        print(f"seeded {records:,} vendor records in {time.perf_counter() - seeded:.1f}s")
        window = (utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1))
        async with aiohttp.ClientSession() as session:
            config = VendorConfig(base_url=f"http://127.0.0.1:{port}", attempt_timeout_s=60.0)
            client = build_clients({"sandbox": config}, session, random.Random(1))["sandbox"]
            listed, base_s = await baseline(client, window)

            async def run(run_id: str):
                return await run_reconciliation(
                    pool,
                    client,
                    run_id=run_id,
                    window_start=window[0],
                    window_end=window[1],
                    clock=utcnow,
                    page_size=PAGE_SIZE,
                )

            started = time.perf_counter()
            summary = await run("bench-1")
            run_s = time.perf_counter() - started
            tracemalloc.start()
            await run("bench-2")
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        healed = await pool.fetchval(
            "SELECT count(*) FROM events WHERE type = 'OrderFulfilled'"
            " AND convert_from(data, 'UTF8')::jsonb ->> 'source' = 'reconciliation'"
        )
    finally:
        await runner.cleanup()
        if pool is not None:
            await pool.close()
    assert listed == summary.records_seen == records and healed == healing
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"baseline (list only): {listed:,} records in {base_s:.2f}s = {listed / base_s:,.0f}/s")
    print(
        f"reconciliation run:   {records:,} records in {run_s:.2f}s = {records / run_s:,.0f}/s"
        f" ({summary.pages} pages, {summary.unmatched:,} unmatched, {healed:,} orders healed)"
    )
    print(f"vendor latency:       {latency_ms} ms per page")
    print(f"ratio run/baseline:   {run_s / base_s:.2f}x the time of listing alone")
    print(
        f"peak memory of a run: {peak / 2**20:.1f} MiB traced; process max RSS {maxrss_mb:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--matched", type=float, default=0.9, help="share that are our orders")
    parser.add_argument("--pending", type=float, default=0.1, help="share of ours still pending")
    parser.add_argument(
        "--vendor-latency-ms",
        type=int,
        default=50,
        help="added to every page the vendor answers, as a remote vendor's (default 50)",
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    configure_logging("warning")  # a line per page would be timed too
    url = asyncio.run(resolve_database_url(args.database_url, ROOT / ".data"))
    asyncio.run(bench(url, args.records, args.matched, args.pending, args.vendor_latency_ms))


if __name__ == "__main__":
    main()
