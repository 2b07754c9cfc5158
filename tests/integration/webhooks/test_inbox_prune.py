"""Pruning the vendor webhook inbox: only rows past the cut, a batch at a time, and nodes
pruning at once delete each row once between them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ledger.webhooks import inbox

CUT = datetime(2026, 9, 1, tzinfo=UTC)


async def received(pool, n: int, at: datetime) -> None:
    await pool.execute(
        "INSERT INTO vendor_webhook_inbox (vendor, received_at, outcome, headers, body_sha256,"
        " body_bytes) SELECT 'sandbox', $1::timestamptz - g * interval '1 second', 'refused',"
        " '{}', '', 0 FROM generate_series(1, $2) g",
        at,
        n,
    )


async def test_pruning_deletes_every_row_before_the_cut_in_batches_and_keeps_the_rest(
    pool, monkeypatch
):
    monkeypatch.setattr(inbox, "PRUNE_BATCH", 100)
    await received(pool, 1_050, CUT)
    await received(pool, 7, CUT + timedelta(days=1))
    assert await inbox.prune(pool, CUT) == 1_050
    left = await pool.fetchval("SELECT min(received_at) FROM vendor_webhook_inbox")
    assert left >= CUT and await pool.fetchval("SELECT count(*) FROM vendor_webhook_inbox") == 7
    assert await inbox.prune(pool, CUT) == 0


async def test_two_nodes_pruning_at_once_delete_each_row_once(pool, monkeypatch):
    monkeypatch.setattr(inbox, "PRUNE_BATCH", 50)
    await received(pool, 2_000, CUT)
    counts = await asyncio.gather(*(inbox.prune(pool, CUT) for _ in range(2)))
    assert sum(counts) == 2_000
    assert await pool.fetchval("SELECT count(*) FROM vendor_webhook_inbox") == 0


async def test_a_retention_of_zero_days_keeps_every_row(pool):
    await received(pool, 3, CUT - timedelta(days=3650))
    stop = asyncio.Event()
    await asyncio.wait_for(inbox.prune_past_retention(pool, 0, stop, lambda: CUT), 1.0)
    assert await pool.fetchval("SELECT count(*) FROM vendor_webhook_inbox") == 3


async def test_a_stop_ends_a_long_prune_between_two_batches(pool, monkeypatch):
    """A first prune after months without one may take minutes; a stop must not wait for it
    (the supervisor gives a worker 10 s, then cancels it and logs that it did not stop)."""
    monkeypatch.setattr(inbox, "PRUNE_BATCH", 20)
    await received(pool, 100_000, CUT)  # 5,000 batches: seconds of work
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, stop.set)
    await asyncio.wait_for(
        inbox.prune_past_retention(pool, 90, stop, lambda: CUT.replace(year=2027)), 5.0
    )
    left = await pool.fetchval("SELECT count(*) FROM vendor_webhook_inbox")
    assert 0 < left < 100_000
