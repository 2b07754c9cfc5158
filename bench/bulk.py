"""Bulk batch throughput: recording rows, then the completer draining them to the vendor.

    python bench/bulk.py [--rows N] [--faults SPEC] [--database-url URL]

1. Recording: submit_batch of N rows (no completer running) at several submit concurrencies.
2. Draining: the completer and the orders projection against a sandbox vendor in a separate
   process (as a real vendor would be), at several completer concurrencies and scan sizes; the
   time until every order of the batch is terminal, and the vendor's order count.
Each measurement gets a scratch database, dropped at the end. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# `python bench/bulk.py` puts bench/ first on sys.path; the repository root must come first.
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from ledger.bulk import batches as bulk_batches  # noqa: E402
from ledger.bulk.parsing import parse_file  # noqa: E402
from ledger.db import create_pool, migrate, resolve_database_url  # noqa: E402
from ledger.log.leases import OrderLeases  # noqa: E402
from ledger.orders import completer  # noqa: E402
from ledger.orders.fulfilment import Fulfilment  # noqa: E402
from ledger.orders.intake import Intake  # noqa: E402
from ledger.orders.schedule import RetryPolicy  # noqa: E402
from ledger.orders.vault import CardVault  # noqa: E402
from ledger.vendors.registry import VendorConfig, build_clients  # noqa: E402
from projections.checkpoints import ensure_projection  # noqa: E402
from projections.orders import OrdersProjection  # noqa: E402
from projections.runner import run_projection  # noqa: E402

# Big enough to breach a vendor's burst; the completer's 30 s breaker is tuned down so that a
# burst of faults measures throughput, not the breaker's reset time.
BREAKER_RESET_S = 1.0
KEY = bytes(range(32))


def csv_file(rows: int, tag: str) -> bytes:
    lines = ["customer_id,brand_id,amount,currency"]
    lines += [f"{tag}-{i:06d},amazon-us,{1 + i % 50}.00,USD" for i in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def now() -> datetime:
    return datetime.now(UTC)


async def scratch(server: str) -> tuple[str, str]:
    name = f"bench_bulk_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    parts = urlsplit(server)
    return name, urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


async def drop(server: str, name: str) -> None:
    admin = await asyncpg.connect(server)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def record(dsn: str, rows: int, vendors: dict, tag: str) -> tuple[float, str]:
    pool = await create_pool(dsn)
    leases = OrderLeases(dsn)
    async with pool.acquire() as conn:
        await migrate(conn)
        await ensure_projection(conn, OrdersProjection())
    parsed = parse_file(
        csv_file(rows, tag), max_bytes=1 << 30, max_rows=rows, max_amount_minor=10**8
    )
    intake = Intake(Fulfilment(pool, vendors, CardVault(KEY), now), leases, now, 3.0)
    started = time.perf_counter()
    parsed = bulk_batches.route_rows(parsed, lambda _brand: "sandbox")
    outcome = await bulk_batches.submit_batch(
        intake,
        pool,
        parsed,
        client_id="bench",
        partial=False,
        now=now(),
        metadata={},
    )
    elapsed = time.perf_counter() - started
    await leases.close()
    await pool.close()
    return elapsed, outcome.batch_id


async def drain(dsn: str, vendor_url: str, batch: str, rows: int) -> float:
    pool = await create_pool(dsn)
    leases = OrderLeases(dsn)
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        config = VendorConfig(
            base_url=vendor_url, attempt_timeout_s=0.3, breaker_reset_s=BREAKER_RESET_S
        )
        vendors = build_clients({"sandbox": config}, session, random.Random(1))
        fulfilment = Fulfilment(pool, vendors, CardVault(KEY), now, RetryPolicy(base_s=0.05))
        worker = completer.Completer(pool, fulfilment, leases)
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(run_projection(dsn, OrdersProjection(), stop, 0.05)),
            asyncio.create_task(worker.run(stop, 0.05)),
        ]
        while True:
            progress = await bulk_batches.batch_progress(pool, "bench", batch)
            if progress and progress.complete:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*tasks)
    await leases.close()
    await pool.close()
    return elapsed


async def start_sandbox(port: int, faults: str) -> asyncio.subprocess.Process:
    """`run.py sandbox` in its own process, as a real vendor would be, ready to serve."""
    sandbox = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "run.py"),
        "sandbox",
        "--port",
        str(port),
        env={**os.environ, "SANDBOX_FAULTS": faults},
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1.5)  # started and listening well within this on a loaded 2-core box
    return sandbox


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--faults", default="seed=9,error_5xx=0.1,timeout_after_commit=0.1")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--submit", default="1,8,16", help="submit concurrencies to try")
    parser.add_argument("--completer", default="8,16,32", help="completer concurrencies")
    args = parser.parse_args()
    server = await resolve_database_url(args.database_url, ROOT / ".data")
    print(f"rows={args.rows} cpus={os.cpu_count()} faults={args.faults}")
    for n in map(int, args.submit.split(",")):
        bulk_batches.SUBMIT_CONCURRENCY = n
        name, dsn = await scratch(server)
        try:
            elapsed, _ = await record(dsn, args.rows, {}, f"s{n}")
        finally:
            await drop(server, name)
        rate = args.rows / elapsed
        print(f"record  submit_concurrency={n:3d}: {elapsed:6.1f} s  {rate:7.0f} rows/s")
    bulk_batches.SUBMIT_CONCURRENCY = 8
    port = free_port()
    sandbox = await start_sandbox(port, args.faults)
    try:
        for spec in args.completer.split(","):
            completer.CONCURRENCY = int(spec)
            completer.QUEUE_DEPTH = 2 * completer.CONCURRENCY
            name, dsn = await scratch(server)
            try:
                _, batch = await record(dsn, args.rows, {}, f"d{spec}")
                elapsed = await drain(dsn, f"http://127.0.0.1:{port}", batch, args.rows)
            finally:
                await drop(server, name)
            print(
                f"drain   completer={completer.CONCURRENCY:3d}:"
                f" {elapsed:6.1f} s  {args.rows / elapsed:7.0f} orders/s"
            )
    finally:
        sandbox.terminate()
        await sandbox.wait()


if __name__ == "__main__":
    asyncio.run(main())
