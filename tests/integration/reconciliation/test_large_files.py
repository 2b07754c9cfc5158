"""A large vendor file is parsed off the event loop and recorded in pages, each its own
transaction, so followers and requests keep moving while it is imported (issue 12, finding 7)."""

from __future__ import annotations

import asyncio
import time

import pytest

from ledger.log import events as ev
from ledger.log import store
from ledger.reconciliation.files import FILE_PAGE_ROWS, file_run_id, ingest_file
from tests.integration.reconciliation.test_files import HEADER, row
from tests.integration.reconciliation.test_runs import observations, utcnow

# Enough rows that parsing them in one go holds the loop for over half a second here.
ROWS = 60_000
# A loop that answers within this while the file is imported was never held by the import: a
# page's work is a few tens of milliseconds, parsing the whole file a second or more.
LOOP_STALL_BOUND_S = 0.25


async def _longest_stall(until: asyncio.Event) -> float:
    longest, last = 0.0, time.monotonic()
    while not until.is_set():
        await asyncio.sleep(0.005)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
    return longest


async def test_a_large_file_leaves_the_event_loop_free_and_commits_page_by_page(pool):
    text = "\n".join([HEADER, *(row(f"vo_{i}", f"stranger-{i}") for i in range(ROWS))])
    done = asyncio.Event()
    watcher = asyncio.create_task(_longest_stall(done))
    await asyncio.sleep(0.01)
    try:
        summary = await ingest_file(pool, "sandbox", file_run_id("sandbox", text), text, utcnow)
    finally:
        done.set()
    stall = await watcher
    pages = -(-ROWS // FILE_PAGE_ROWS)
    assert (summary.records_seen, summary.pages) == (ROWS, pages)
    recorded = await pool.fetch(
        "SELECT tx_id::text, type FROM events WHERE stream_id = $1 ORDER BY position",
        f"reconciliation:{summary.run_id}",
    )
    page_transactions = {r["tx_id"] for r in recorded if r["type"] == "ReconciliationPageRecorded"}
    assert len(page_transactions) == pages
    assert stall < LOOP_STALL_BOUND_S, f"the event loop was held for {stall:.2f} s"


class Died(Exception):
    """Stands for the process ending: raised by the clock as the second page is recorded."""


def clock_that_dies_on_call(n: int):
    calls = iter(range(1, 1_000_000))

    def clock():
        if next(calls) == n:
            raise Died
        return utcnow()

    return clock


async def test_an_import_cut_short_resumes_from_its_last_page_when_the_file_comes_again(pool):
    text = "\n".join([HEADER, *(row(f"vo_{i}", f"s-{i}") for i in range(FILE_PAGE_ROWS + 3))])
    run_id = file_run_id("sandbox", text)
    # Calls: the run's start, page 1, page 2 (dies there, before anything of it is written).
    with pytest.raises(Died):
        await ingest_file(pool, "sandbox", run_id, text, clock_that_dies_on_call(3))
    assert await _pages(pool, run_id) == [1]
    summary = await ingest_file(pool, "sandbox", run_id, text, utcnow)
    assert (summary.records_seen, summary.pages, summary.already_completed) == (
        FILE_PAGE_ROWS + 3,
        2,
        False,
    )
    assert await _pages(pool, run_id) == [1, 2]
    assert len(await observations(pool, run_id)) == FILE_PAGE_ROWS + 3


async def _pages(pool, run_id: str) -> list[int]:
    events = [e.decode() for e in await store.read_stream(pool, f"reconciliation:{run_id}")]
    return [e.page for e in events if isinstance(e, ev.ReconciliationPageRecorded)]
