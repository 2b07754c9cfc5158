"""Pruning the vendor webhook inbox: one batch, and an hourly round with nothing to prune,
with the received_at index (0014) against the same statements without it.

    python bench/inbox_prune.py [--rows N] [--days D] [--repeats R]

A scratch database gets N inbox rows spread evenly over D days (1,000,000 over 100 at the
defaults), each with about 600 bytes of headers, as a real delivery's. Each case runs R times,
every run in a transaction that is rolled back, so each meets the same table:
- a batch (PRUNE_BATCH rows) past a 90-day retention, without the index (baseline), then with;
- the round that finds nothing, the pruner's usual hour, without the index, then with.

Prints each median and its ratio to the baseline of its pair.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository root, not bench/

import asyncpg  # noqa: E402

from bench.scratch import add_database_argument, say, scratch_database  # noqa: E402
from ledger.db import migrate  # noqa: E402
from ledger.webhooks.inbox import _PRUNE, PRUNE_BATCH  # noqa: E402

NOW = datetime(2026, 12, 7, tzinfo=UTC)
HEADERS = json.dumps(
    {"user-agent": "Svix-Webhooks/1.24", "webhook-signature": "v1," + "A" * 88, "x": "b" * 450}
)


async def _load(conn: asyncpg.Connection, rows: int, days: int) -> None:
    await migrate(conn)
    await conn.execute(
        """INSERT INTO vendor_webhook_inbox (vendor, received_at, outcome, reason, webhook_id,
               headers, body_sha256, body_bytes)
           SELECT 'sandbox', $1::timestamptz - g * ($2 * interval '1 day' / $3), 'accepted',
                  NULL, 'evt_' || g, $4::jsonb, repeat('0', 64), 300
           FROM generate_series(1, $3) g""",
        NOW,
        days,
        rows,
        HEADERS,
    )
    await conn.execute("VACUUM ANALYZE vendor_webhook_inbox")


async def _median_ms(conn: asyncpg.Connection, cutoff: datetime, indexed: bool, n: int) -> float:
    took = []
    for _ in range(n):
        undone = conn.transaction()
        await undone.start()
        try:
            if not indexed:
                await conn.execute("DROP INDEX vendor_webhook_inbox_received_at")
            started = time.perf_counter()
            await conn.execute(_PRUNE, cutoff, PRUNE_BATCH)
            took.append(time.perf_counter() - started)
        finally:
            await undone.rollback()
    return statistics.median(took) * 1000


async def main(args: argparse.Namespace) -> None:
    async with scratch_database(args.database_url, "bench_inbox_prune") as url:
        conn = await asyncpg.connect(url)
        try:
            say(f"loading {args.rows:,} inbox rows over {args.days} days")
            await _load(conn, args.rows, args.days)
            cases = {
                f"a batch of {PRUNE_BATCH:,} past 90 days": NOW - timedelta(days=90),
                "an hourly round with nothing to prune": NOW - timedelta(days=args.days + 1),
            }
            for name, cutoff in cases.items():
                baseline = await _median_ms(conn, cutoff, False, args.repeats)
                indexed = await _median_ms(conn, cutoff, True, args.repeats)
                print(f"{name}, no index (baseline) {baseline:9.2f} ms")
                print(f"{name}, indexed             {indexed:9.2f} ms  {indexed / baseline:6.3f}x")
        finally:
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=9)
    add_database_argument(parser)
    asyncio.run(main(parser.parse_args()))
