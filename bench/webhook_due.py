"""The deliverer's due query with a backlog: the one it runs now against the one it ran before.

    python bench/webhook_due.py [--endpoints E] [--per-endpoint N] [--repeats R]

A scratch database gets E endpoints with N due deliveries each (100,000 at the defaults), all
pending and past their next attempt, as after a long outage. Each query runs R times:
- the baseline, the query of a round before 0fbf5c3 (50 due rows, no sends out);
- the query now with no sends out (16 free slots);
- the query now with every endpoint but one at its share of sends out, the most it skips.

The deliverer runs its query up to every 0.2 s while sends are out, so its cost matters with a
backlog. Prints each median and its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository root, not bench/

import asyncpg  # noqa: E402

from bench.scratch import add_database_argument, say, scratch_database  # noqa: E402
from ledger.db import migrate  # noqa: E402
from ledger.webhooks.deliveries import _DUE, CONCURRENCY  # noqa: E402

NOW = datetime(2026, 12, 7, tzinfo=UTC)
# The round's query before 0fbf5c3, with its page of 50.
BEFORE = """
    SELECT d.endpoint_id, d.event_id, d.attempts, d.queued_at, e.url, a.payload
    FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id AND NOT e.disabled AND NOT e.deleted
    JOIN webhook_events a ON a.id = d.event_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                      WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key
                        AND p.status = 'pending' AND p.seq < d.seq)
    ORDER BY d.next_attempt_at LIMIT 50"""


async def _load(conn: asyncpg.Connection, endpoints: int, per_endpoint: int) -> None:
    await migrate(conn)
    await conn.execute(
        """INSERT INTO webhook_endpoints (id, client_id, url, events, description,
               finance_scope, created_at, updated_at)
           SELECT 'we_' || n, 'acme', 'https://hooks.example/' || n, ARRAY['order.fulfilled'],
                  '', 'none', $1, $1 FROM generate_series(1, $2) n""",
        NOW,
        endpoints,
    )
    # An 800-byte body each, about an order event's.
    await conn.execute(
        """INSERT INTO webhook_events (id, type, client_id, ordering_key, seq, occurred_at,
               payload)
           SELECT 'evt_' || n, 'order.fulfilled', 'acme', 'order-' || n, 1, $1,
                  convert_to(repeat('x', 800), 'UTF8') FROM generate_series(1, $2) n""",
        NOW,
        per_endpoint,
    )
    await conn.execute(
        """INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key, seq, occurred_at,
               queued_at, next_attempt_at)
           SELECT 'we_' || e, 'evt_' || n, 'order-' || n, 1, $1, $1,
                  $1::timestamptz - n * interval '1 second'
           FROM generate_series(1, $2) e, generate_series(1, $3) n""",
        NOW,
        endpoints,
        per_endpoint,
    )
    await conn.execute("ANALYZE")


async def _median_ms(conn: asyncpg.Connection, query: str, args: tuple, repeats: int) -> float:
    await conn.fetch(query, *args)  # prepared and cached, as the deliverer's connection has it
    took = []
    for _ in range(repeats):
        started = time.perf_counter()
        await conn.fetch(query, *args)
        took.append(time.perf_counter() - started)
    return statistics.median(took) * 1000


async def main(args: argparse.Namespace) -> None:
    async with scratch_database(args.database_url, "bench_webhook_due") as url:
        conn = await asyncpg.connect(url)
        try:
            say(f"loading {args.endpoints * args.per_endpoint:,} due deliveries")
            await _load(conn, args.endpoints, args.per_endpoint)
            all_but_one = [f"we_{n}" for n in range(2, args.endpoints + 1)]
            cases = {
                "before (baseline)": (BEFORE, (NOW,)),
                "now, no sends out": (_DUE, (NOW, CONCURRENCY, [], [], [])),
                "now, all endpoints but one at their share": (
                    _DUE,
                    (NOW, CONCURRENCY, all_but_one, [], []),
                ),
            }
            baseline = None
            for name, (query, params) in cases.items():
                median = await _median_ms(conn, query, params, args.repeats)
                baseline = baseline or median
                print(f"{name:45} {median:7.2f} ms  {median / baseline:5.2f}x")
        finally:
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--per-endpoint", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=50)
    add_database_argument(parser)
    asyncio.run(main(parser.parse_args()))
