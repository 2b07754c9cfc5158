"""Reconciliation file import: a 200,000-row vendor file, and what the event loop feels meanwhile.

    python bench/file_import.py [--rows N] [--database-url URL]

Printed, measured in the same run on a scratch database (DATABASE_URL / --database-url, else
the embedded PostgreSQL), dropped at the end:
- the baseline: parsing the file alone, as the import did on the event loop before issue 12;
- the import (parse in a thread, then pages of FILE_PAGE_ROWS rows, each its own transaction):
  its time, rows per second, and the ratio of its time to the baseline's;
- the longest stretch the event loop went without running a 5 ms ticker, during each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# `python bench/file_import.py` puts bench/ first on sys.path; the repository root must come first.
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from bench.bulk import drop, scratch  # noqa: E402
from ledger.db import create_pool, migrate, resolve_database_url  # noqa: E402
from ledger.logs import configure_logging  # noqa: E402
from ledger.reconciliation.file_format import parse_reconciliation_csv  # noqa: E402
from ledger.reconciliation.files import file_run_id, ingest_file  # noqa: E402

HEADER = "vendor_order_id,reference,status,amount,currency,created_at,updated_at"


def vendor_file(rows: int) -> str:
    stamp = "2026-11-30T10:00:00Z,2026-11-30T11:00:00Z"
    lines = (f"vo_{i:07d},gcl-{i:07d},fulfilled,25.00,USD,{stamp}" for i in range(rows))
    return "\n".join([HEADER, *lines]) + "\n"


async def longest_stall(work) -> tuple[float, float]:
    """(seconds the work took, longest gap between ticks of a 5 ms ticker meanwhile)."""
    done, longest = asyncio.Event(), [0.0]

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            longest[0], last = max(longest[0], now - last), now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    try:
        await work()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        await task
    return elapsed, longest[0]


async def main(rows: int, server: str) -> None:
    configure_logging("warning")
    text = vendor_file(rows)
    name, dsn = await scratch(server)
    try:
        pool = await create_pool(dsn)
        async with pool.acquire() as conn:
            await migrate(conn)

        async def parse_on_loop() -> None:
            parse_reconciliation_csv(text)

        async def import_file() -> None:
            now = lambda: datetime.now(UTC)  # noqa: E731
            await ingest_file(pool, "sandbox", file_run_id("sandbox", text), text, now)

        base_s, base_stall = await longest_stall(parse_on_loop)
        import_s, import_stall = await longest_stall(import_file)
        await pool.close()
    finally:
        await drop(server, name)
    print(f"rows: {rows:,} ({len(text) / 1e6:.1f} MB)")
    print(f"baseline, parse on the loop: {base_s:.2f} s, loop held {base_stall:.2f} s")
    print(
        f"import: {import_s:.2f} s, {rows / import_s:,.0f} rows/s, loop held at most"
        f" {import_stall * 1000:.0f} ms; import / parse = {import_s / base_s:.1f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or os.environ.get("DATABASE_URL")
    asyncio.run(main(args.rows, asyncio.run(resolve_database_url(url, ROOT / ".data"))))
