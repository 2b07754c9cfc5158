"""A run lists page N+1 while it records page N (issue 15), without giving up page order,
one commit per page, or resuming exactly where a failed listing stopped."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from ledger.log import events as ev
from ledger.log import store
from ledger.reconciliation import files, runs
from ledger.reconciliation.files import FILE_PAGE_ROWS, file_run_id, ingest_file
from tests.integration.reconciliation.test_files import HEADER, row
from tests.integration.reconciliation.test_runs import utcnow

PAGES = 3
TEXT = "\n".join(
    [HEADER, *(row(f"vo_{i}", f"stranger-{i}") for i in range(FILE_PAGE_ROWS * PAGES))]
)


async def test_the_next_page_is_listed_before_the_page_before_it_is_recorded(pool, monkeypatch):
    listed: list[int] = []  # the pages listings were started for, in order
    next_listing_started = asyncio.Event()
    record_page = runs.record_page

    def listing_of(pages_of):
        def wrap(records):
            next_page = pages_of(records)

            async def listing(progress):
                listed.append(progress.pages + 1)
                next_listing_started.set()
                return await next_page(progress)

            return listing

        return wrap

    async def record_after_the_next_listing_began(conn, run, version, page, now):
        # Sequential paging would wait here until the timeout: the next page's listing would
        # only start once this page is recorded.
        while page.next_cursor is not None and page.number + 1 not in listed:
            await asyncio.wait_for(next_listing_started.wait(), 5)
            next_listing_started.clear()
        return await record_page(conn, run, version, page, now)

    monkeypatch.setattr(files, "_pages_of", listing_of(files._pages_of))
    monkeypatch.setattr(runs, "record_page", record_after_the_next_listing_began)
    summary = await ingest_file(pool, "sandbox", file_run_id("sandbox", TEXT), TEXT, utcnow)
    assert (summary.pages, summary.records_seen) == (PAGES, FILE_PAGE_ROWS * PAGES)
    assert listed == [1, 2, 3]
    recorded = await store.read_stream(pool, f"reconciliation:{summary.run_id}")
    pages = [e.decode() for e in recorded if e.type == "ReconciliationPageRecorded"]
    assert [p.page for p in pages] == [1, 2, 3]


async def test_a_listing_that_fails_ahead_stops_the_run_after_the_page_before_it(pool):
    calls = 0

    async def listing(progress):
        nonlocal calls
        calls += 1
        if progress.pages == 1:
            raise runs.PageUnavailable("run_ahead", 2, "the vendor went away")
        return [], "cursor-2"

    started = ev.ReconciliationStarted(
        run_id="run_ahead",
        vendor="sandbox",
        window_start=utcnow() - timedelta(hours=1),
        window_end=utcnow(),
        started_at=utcnow(),
    )
    with pytest.raises(runs.PageUnavailable):
        await runs.run_pages(pool, started, listing, utcnow)
    recorded = await store.read_stream(pool, "reconciliation:run_ahead")
    assert [e.type for e in recorded] == ["ReconciliationStarted", "ReconciliationPageRecorded"]
    assert calls == 2
