"""The server's cost of one append: `store.append` against a plain INSERT of the same bytes.

    python bench/append_cost.py [--database-url URL] [--appends N] [--repeats R]

One connection, one event per call, each call its own transaction with synchronous_commit off:
the figure is the server's work on the append (the stamp trigger, the owner check, the log's
indexes) and one round trip, not the WAL flush that bench/ledger.py's appends wait on. Calls
alternate an order's OrderRequested (owner check, no predecessor) and a second event of its
stream (the predecessor's hash read). The baseline INSERTs the same rows into a bare table with
the log's unique (stream_id, version) and no trigger or check, in the same run. When the server
preloads pg_stat_statements, the executor time per call is printed too. A scratch database is
created on the server (--database-url, else DATABASE_URL, else the local default) and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

# `python bench/append_cost.py` puts bench/ first on sys.path, where bench/ledger.py would shadow
# the `ledger` package: the repository root takes its place before the project imports below.
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import asyncpg  # noqa: E402

from bench.scratch import add_database_argument, scratch_database  # noqa: E402
from bench.synthetic import order_history, order_stream  # noqa: E402
from ledger.db import migrate  # noqa: E402
from ledger.log import events as ev  # noqa: E402
from ledger.log import store  # noqa: E402

PLAIN = """CREATE TABLE bench_plain (stream_id text, version integer, type text, data bytea,
           metadata jsonb, UNIQUE (stream_id, version))"""
PLAIN_INSERT = "INSERT INTO bench_plain VALUES ($1, $2, $3, $4, $5::jsonb)"
METADATA = {"request_id": "r" * 32, "actor": "api:bench"}
METADATA_JSON = json.dumps(METADATA)
EXECUTOR_US = """SELECT sum(total_exec_time) * 1000 / nullif(sum(calls), 0) FROM pg_stat_statements
                 WHERE toplevel AND query ~ $1"""


def history(run: int, i: int) -> tuple[str, list[ev.Event]]:
    """An order's stream and first two events: what a new order appends before the vendor
    answers."""
    key = f"r{run}-{i}"
    return order_stream(key), order_history(key)[:2]


async def appends(conn: asyncpg.Connection, n: int, run: int) -> float:
    started = time.perf_counter()
    for i in range(n // 2):
        stream, events = history(run, i)
        for version, event in enumerate(events):
            await store.append(conn, stream, [event], version, metadata=METADATA)
    return time.perf_counter() - started


async def plain_inserts(conn: asyncpg.Connection, n: int, run: int) -> float:
    started = time.perf_counter()
    for i in range(n // 2):
        stream, events = history(run, i)
        for version, event in enumerate(events, start=1):
            data, kind = ev.encode(event), ev.type_name(event)
            await conn.execute(PLAIN_INSERT, stream, version, kind, data, METADATA_JSON)
    return time.perf_counter() - started


async def executor_us(conn: asyncpg.Connection, pattern: str) -> float | None:
    try:
        return await conn.fetchval(EXECUTOR_US, pattern)
    except asyncpg.PostgresError:  # pg_stat_statements is not loaded on this server
        return None


async def bench(dsn: str, n: int, repeats: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await conn.execute(PLAIN)
        await conn.execute("SET synchronous_commit = off")
        stats = True
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_stat_statements_reset()")
        except asyncpg.PostgresError:
            stats = False
        await appends(conn, 200, -1)  # warm-up: plans cached, tables past their first pages
        await plain_inserts(conn, 200, -1)
        log_s = min([await appends(conn, n, run) for run in range(repeats)])
        plain_s = min([await plain_inserts(conn, n, run) for run in range(repeats)])
        log_exec = await executor_us(conn, "append_events") if stats else None
        plain_exec = await executor_us(conn, "INSERT INTO bench_plain") if stats else None
    finally:
        await conn.close()
    log_us, plain_us = log_s / n * 1e6, plain_s / n * 1e6
    print(f"append cost: {n:,} calls per pass, best of {repeats}, one connection")
    print(f"{'':24}{'us per call':>12}{'executor us':>13}")
    for name, wall, executor in (
        ("store.append", log_us, log_exec),
        ("plain INSERT", plain_us, plain_exec),
    ):
        shown = f"{executor:13.1f}" if executor is not None else f"{'n/a':>13}"
        print(f"{name:24}{wall:12.1f}{shown}")
    print(f"plain INSERT / append: {plain_us / log_us:.2f} (wall per call)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_argument(parser)
    parser.add_argument("--appends", type=int, default=4_000, help="calls per pass (even)")
    parser.add_argument("--repeats", type=int, default=3, help="passes; the best is reported")
    args = parser.parse_args()
    if args.appends < 2 or args.repeats < 1:
        parser.error("need --appends >= 2 and --repeats >= 1")

    async def run() -> None:
        async with scratch_database(args.database_url, "bench_append_cost") as dsn:
            await bench(dsn, args.appends, args.repeats)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
