"""Reads at scale: /readyz, /metrics, the GL daily report and the filtered order list.

    python bench/scale.py [--orders N] [--requests R] [--database-url URL]

A scratch database gets N synthetic orders (bench/synthetic.py: 98% fulfilled with four events
each, 2% failed with two; 1,000 customers; spread over 120 days), about 4N events: 2M at the
default 500k orders. Every projection is rebuilt from that log (timed: a figure of its own),
then the service (create_app with its workers, as `serve` runs it) answers R requests of each
read over real HTTP on 127.0.0.1, one at a time, at zero projection lag.

Each read is measured against a baseline in the same run:
- over HTTP, against GET /healthz (the same stack, no database): the service's own floor;
- in SQL, the statement the read used before issue 15 against the one it uses now, on the same
  data, with their answers compared (they must agree).

Exit status 1 when a read misses its target or the old and new statements disagree.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # as in bench/intake.py: the repository root, not bench/

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import structlog  # noqa: E402

from bench.intake import serve  # noqa: E402
from bench.scratch import percentile_ms, say, scratch_database, service_settings  # noqa: E402
from bench.synthetic import CLIENT, T0, check_loaded, load_orders  # noqa: E402
from ledger.auth import create_key  # noqa: E402
from ledger.db import migrate, resolve_database_url  # noqa: E402
from ledger.http.app import create_app  # noqa: E402
from ledger.http.keys import POOL  # noqa: E402
from ledger.logs import configure_logging  # noqa: E402
from ledger.vendors.sandbox.server import SandboxConfig, create_sandbox_app  # noqa: E402
from projections.checkpoints import ensure_projection  # noqa: E402
from projections.gl.postings import Movement, daily_totals  # noqa: E402
from projections.gl.reports import daily  # noqa: E402
from projections.orders import ORDERS_TABLE, order_list_query  # noqa: E402
from projections.rebuild import rebuild  # noqa: E402
from projections.registry import all_projections  # noqa: E402
from projections.runner import lag  # noqa: E402

FAILED_SHARE = 0.02
CUSTOMERS = 1_000
DAYS = 120
REPORT_DAYS = 90  # the GL report's range, ending on the last day with orders
# Targets from issue 15, p99 in milliseconds.
TARGETS_MS = {"/readyz": 20, "/metrics": 20, "GL daily, 90 days": 50, "orders by status": 10}
TARGETS_MS["orders by customer"] = 10

# The statements as they were before issue 15, for the SQL baseline.
OLD_LAG = """WITH c AS (
        SELECT coalesce((SELECT tx_id FROM projection_checkpoints WHERE name = $1), '0'::xid8)
                 AS tx_id,
               coalesce((SELECT position FROM projection_checkpoints WHERE name = $1), 0)
                 AS position)
    SELECT count(e.*) AS events FROM c
    LEFT JOIN events e ON (e.tx_id, e.position) > (c.tx_id, c.position)"""
OLD_DAILY = """SELECT posting_date, currency, from_state, to_state, count(*) AS count,
           sum(amount_minor)::bigint AS amount_minor, count(adjustment_of) AS adjustment_count,
           coalesce(sum(amount_minor) FILTER (WHERE adjustment_of IS NOT NULL), 0)::bigint
             AS adjustment_minor
    FROM gl_postings
    WHERE posting_date <= $1 AND ($2::text IS NULL OR currency = $2)
      AND ($3::text IS NULL OR client_id = $3)
    GROUP BY 1, 2, 3, 4"""
OLD_ORDERS = """SELECT * FROM orders_view
    WHERE client_id = $1 AND ($2::text IS NULL OR status = $2)
      AND ($3::timestamptz IS NULL OR created_at >= $3)
      AND ($4::timestamptz IS NULL OR created_at < $4)
      AND ($5::text IS NULL OR customer_id = $5)
      AND ($6::timestamptz IS NULL OR (created_at, stream_id) > ($6, $7))
    ORDER BY created_at, stream_id LIMIT $8"""
# The order list's indexes that issue 15 added; the old statement is timed without them.
NEW_LIST_INDEXES = (
    "client_id, status, created_at, stream_id",
    "client_id, customer_id, created_at, stream_id",
)
# Start-up work of the service (projection catch-up, the first completer and confirmer
# sweeps) runs for a moment after it is ready; timing starts once that has passed.
SETTLE_TIMEOUT_S = 120.0
SETTLE_AFTER_READY_S = 3.0
PAGE = 51  # the list's default limit of 50, plus the row that says there is a next page


async def timed(call: Callable[[], Awaitable[object]], repeats: int) -> list[float]:
    await call()  # warm: prepared statements, caches
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def load(dsn: str, orders: int) -> int:
    failed = int(orders * FAILED_SHARE)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        shape = {"customers": CUSTOMERS, "days": DAYS}
        say(f"loading {orders - failed:,} fulfilled and {failed:,} failed orders")
        await load_orders(conn, 0, orders - failed, **shape)
        await load_orders(conn, orders - failed, orders, failed=True, **shape)
        await check_loaded(conn, 7, **shape)
        await check_loaded(conn, orders - 1, failed=True, **shape)
        await conn.execute("VACUUM (ANALYZE) events")
        events = await conn.fetchval("SELECT count(*) FROM events")
        for name, projection in all_projections().items():
            await ensure_projection(conn, projection)
            started = time.perf_counter()
            assert await rebuild(conn, projection) == []
            seconds = time.perf_counter() - started
            say(f"rebuilt {name} from {events:,} events in {seconds:.1f} s")
            print(f"rebuild {name:<14} {events:>12,} events {events / seconds:>12,.0f} events/s")
        await conn.execute("VACUUM (ANALYZE)")
        return events
    finally:
        await conn.close()


async def sql_baselines(dsn: str, repeats: int, last_day: date) -> list[tuple[str, float, float]]:
    """(read, old p99 ms, new p99 ms) for each statement; asserts that both answer alike."""
    conn = await asyncpg.connect(dsn)
    names = list(all_projections())
    projections = list(all_projections().values())
    start = last_day - timedelta(days=REPORT_DAYS - 1)
    results = []
    try:

        async def old_lag() -> list[int]:
            return [await conn.fetchval(OLD_LAG, name) for name in names]

        async def new_lag() -> list[int]:
            return [lagged.events for lagged in (await lag(conn, projections)).values()]

        async def old_daily() -> list:
            rows = await conn.fetch(OLD_DAILY, last_day, None, None)
            return daily_totals([Movement(**dict(r)) for r in rows], start)

        async def new_daily() -> list:
            return await daily(conn, start, last_day, None, None)

        filters = {"status": ("failed", None), "customer": (None, "cust-7")}
        pairs = [("lag", old_lag, new_lag), ("GL daily, 90 days", old_daily, new_daily)]
        for label, (status, customer) in filters.items():

            async def old_list(status=status, customer=customer) -> list:
                return await conn.fetch(
                    OLD_ORDERS, CLIENT, status, None, None, customer, None, None, PAGE
                )

            async def new_list(status=status, customer=customer) -> list:
                query = order_list_query(
                    CLIENT,
                    status=status,
                    start=None,
                    end=None,
                    customer_id=customer,
                    after=None,
                    limit=PAGE,
                )
                return await conn.fetch(*query)

            pairs.append((f"orders by {label}", old_list, new_list))
        for label, old, new in pairs:
            assert await old() == await new(), f"{label}: the old and new statements disagree"
            after = percentile_ms(await timed(new, repeats), 99)
            before = percentile_ms(await without_new_indexes(conn, old, repeats), 99)
            results.append((label, before, after))
    finally:
        await conn.close()
    return results


async def without_new_indexes(
    conn: asyncpg.Connection, call: Callable[[], Awaitable[object]], repeats: int
) -> list[float]:
    """Time `call` as before issue 15: the order list's new indexes dropped in a transaction
    that is rolled back (nothing else uses the database meanwhile)."""
    names = [f"orders_view_ix{ORDERS_TABLE.indexes.index(i)}" for i in NEW_LIST_INDEXES]
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(f"DROP INDEX {', '.join(names)}")
        return await timed(call, repeats)
    finally:
        await tx.rollback()


async def http_reads(dsn: str, repeats: int, last_day: date) -> dict[str, list[float]]:
    start = last_day - timedelta(days=REPORT_DAYS - 1)
    reads = {
        "/healthz": "/healthz",
        "/readyz": "/readyz",
        "/metrics": "/metrics",
        "GL daily, 90 days": f"/api/v1/gl/daily?from={start}&to={last_day}",
        "orders by status": "/api/v1/orders?status=failed",
        "orders by customer": "/api/v1/orders?customer_id=cust-7",
    }
    samples = {}
    async with contextlib.AsyncExitStack() as stack:
        sandbox_url = await stack.enter_async_context(serve(create_sandbox_app(SandboxConfig())))
        service = create_app(service_settings(sandbox_url, "bench-scale"), dsn)
        url = await stack.enter_async_context(serve(service))
        async with service[POOL].acquire() as conn:
            _, key = await create_key(conn, name="bench", scopes=["finance:read"], client_id=CLIENT)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        headers = {"Authorization": f"Bearer {key}"}
        await settled(session, url)
        for label, path in reads.items():

            async def get(path=path) -> None:
                async with session.get(url + path, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, (path, response.status, await response.text())

            samples[label] = await timed(get, repeats)
    return samples


async def settled(session: aiohttp.ClientSession, url: str) -> None:
    """Wait for the service to be ready, then for its start-up work to pass, before timing."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        async with session.get(url + "/readyz") as response:
            if response.status == 200:
                break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service was not ready within {SETTLE_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.5)
    await asyncio.sleep(SETTLE_AFTER_READY_S)


async def run(args: argparse.Namespace, dsn: str) -> bool:
    events = await load(dsn, args.orders)
    last_day = (T0 + timedelta(days=DAYS - 1)).date()
    say("timing the old and new statements")
    statements = await sql_baselines(dsn, args.requests, last_day)
    say(f"timing {args.requests} requests of each read over HTTP")
    samples = await http_reads(dsn, args.requests, last_day)
    floor = percentile_ms(samples["/healthz"], 99)
    print(f"\n{args.orders:,} orders, {events:,} events, {args.requests} requests per read")
    head = f"{'HTTP read':<24}{'p50 ms':>9}{'p99 ms':>9}{'/healthz p99':>14}{'target ms':>11}"
    print(head + "\n" + "-" * len(head))
    ok = True
    for label, times in samples.items():
        p99 = percentile_ms(times, 99)
        target = TARGETS_MS.get(label)
        met = target is None or p99 < target
        ok &= met
        print(
            f"{label:<24}{percentile_ms(times, 50):>9.2f}{p99:>9.2f}{p99 / floor:>13.1f}x"
            f"{'' if target is None else f'< {target}':>11}{'' if met else '  MISS'}"
        )
    head = f"{'SQL statement':<24}{'before p99':>12}{'after p99':>11}{'speed-up':>10}"
    print("\n" + head + "\n" + "-" * len(head))
    for label, before, after in statements:
        print(f"{label:<24}{before:>12.2f}{after:>11.2f}{before / after:>9.1f}x")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per read")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    if args.orders < 1_000 or args.requests < 10:
        parser.error("need --orders >= 1000 and --requests >= 10")
    configure_logging("warning", json=True)
    devnull = open(os.devnull, "w")  # noqa: SIM115 (open for the life of the process)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=devnull))
    return asyncio.run(scratch(args))


async def scratch(args: argparse.Namespace) -> int:
    """Run in a scratch database, dropped at the end."""
    server = await resolve_database_url(args.database_url, Path(".data"))
    async with scratch_database(server, "bench_scale") as dsn:
        ok = await run(args, dsn)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
