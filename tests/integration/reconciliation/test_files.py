"""Importing a vendor's reconciliation file: every row checked before any is recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ledger.log import events as ev
from ledger.log import store
from ledger.orders.model import fold
from ledger.reconciliation.files import (
    FileRejected,
    file_run_id,
    ingest_file,
)
from ledger.reconciliation.progress import RunMismatch, RunSummary
from ledger.reconciliation.runs import RunInProgress
from tests.integration.reconciliation.test_runs import observations, our_order, utcnow

HEADER = "vendor_order_id,reference,status,amount,currency,created_at,updated_at"
STAMP = "2024-05-01T10:00:00Z,2024-05-01T11:00:00Z"


def row(vendor_order_id: str, reference: str, status="fulfilled", amount="25.00") -> str:
    return f"{vendor_order_id},{reference},{status},{amount},USD,{STAMP}"


async def test_a_good_file_is_one_run_with_source_file_that_heals_pending_orders(pool):
    stream_id, reference = await our_order(pool, "from-file")
    text = "\r\n".join([HEADER, row("vo_1", reference), row("vo_2", "not-ours")]) + "\r\n"
    summary = await ingest_file(pool, "sandbox", "file-run", text, utcnow)
    assert (summary.source, summary.records_seen, summary.pages, summary.unmatched) == (
        "file",
        2,
        1,
        1,
    )
    run = [e.decode() for e in await store.read_stream(pool, "reconciliation:file-run")]
    assert [type(e).__name__ for e in run] == [
        "ReconciliationStarted",
        "VendorRecordObserved",
        "ReconciliationPageRecorded",
        "ReconciliationCompleted",
    ]
    assert run[0].source == "file" and run[0].window_start < run[0].window_end
    order = [e.decode() for e in await store.read_stream(pool, stream_id)]
    assert isinstance(order[-1], ev.OrderFulfilled) and order[-1].source == "reconciliation"
    assert fold(await store.read_stream(pool, stream_id)).status == "fulfilled"


async def test_a_file_with_one_bad_row_is_refused_whole_and_records_nothing(pool):
    _, reference = await our_order(pool, "untouched")
    before = await pool.fetchval("SELECT count(*) FROM events")
    text = "\n".join([HEADER, row("vo_1", reference), row("vo_2", "x", amount="2.5.0")])
    with pytest.raises(FileRejected) as rejected:
        await ingest_file(pool, "sandbox", "bad-file", text, utcnow)
    assert [(e.row, e.column) for e in rejected.value.errors] == [(3, "amount")]
    assert await pool.fetchval("SELECT count(*) FROM events") == before


async def test_the_same_file_imported_twice_even_at_once_is_recorded_once(pool):
    _, reference = await our_order(pool, "twice")
    text = "\n".join([HEADER, row("vo_1", reference), row("vo_2", "stranger")])
    run_id = file_run_id("sandbox", text)
    outcomes = await asyncio.gather(
        ingest_file(pool, "sandbox", run_id, text, utcnow),
        ingest_file(pool, "sandbox", run_id, text, utcnow),
        return_exceptions=True,
    )
    third = await ingest_file(pool, "sandbox", run_id, text, utcnow)
    # The other came after the first had finished (its summary) or was told it is under way.
    recorded = [o for o in outcomes if isinstance(o, RunSummary) and not o.already_completed]
    others = [o for o in outcomes if o not in recorded]
    assert len(recorded) == 1 and len(others) == 1
    assert isinstance(others[0], RunInProgress) or others[0].already_completed
    assert third.already_completed and third.records_seen == 2 and third.unmatched == 1
    assert len(await observations(pool, run_id)) == 2


async def test_a_file_run_id_taken_by_another_vendor_is_refused(pool):
    text = "\n".join([HEADER, row("vo_1", "stranger")])
    await ingest_file(pool, "sandbox", "file-run", text, utcnow)
    with pytest.raises(RunMismatch) as mismatch:
        await ingest_file(pool, "other-vendor", "file-run", text, utcnow)
    assert mismatch.value.field == "vendor"


async def test_a_header_only_file_is_a_completed_run_of_nothing(pool):
    summary = await ingest_file(pool, "sandbox", "empty", HEADER + "\n", utcnow)
    assert (summary.records_seen, summary.pages, summary.unmatched) == (0, 1, 0)
    assert summary.window_start == summary.window_end


async def test_a_header_only_file_imported_twice_at_once_is_one_run_and_never_a_conflict(pool):
    text = HEADER + "\n"
    run_id = file_run_id("sandbox", text)
    outcomes = await asyncio.gather(
        *(ingest_file(pool, "sandbox", run_id, text, utcnow) for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(o, (RunSummary, RunInProgress)) for o in outcomes), outcomes
    again = await ingest_file(pool, "sandbox", run_id, text, utcnow)
    assert again.already_completed and again.records_seen == 0


async def test_a_file_imported_with_its_window_vouches_for_that_window_not_its_oldest_row(pool):
    """A day's file listing a refund of a week-old sale would vouch for the whole week (and
    report that week's orders missing); given the day, it vouches for the day."""
    text = "\n".join(
        [
            HEADER,
            "vo_old,stranger-1,refunded,25.00,USD,2024-04-24T10:00:00Z,2024-05-01T09:00:00Z",
            row("vo_new", "stranger-2"),
        ]
    )
    day = (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
    inferred = await ingest_file(pool, "sandbox", file_run_id("sandbox", text), text, utcnow)
    given_id = file_run_id("sandbox", text, day)
    given = await ingest_file(pool, "sandbox", given_id, text, utcnow, day)
    assert inferred.window_start == datetime(2024, 4, 24, 10, tzinfo=UTC)
    assert (given.window_start, given.window_end) == day
    assert given.run_id != inferred.run_id and given.records_seen == 2


async def test_a_file_whose_rows_span_more_than_a_window_is_refused_naming_its_first_row(pool):
    """One typo'd year would make the file vouch for ten years: every order of them it does
    not list would be opened as missing at the vendor."""
    before = await pool.fetchval("SELECT count(*) FROM events")
    typo = row("vo_2", "r-2").replace(STAMP, "2014-05-01T10:00:00Z,2014-05-01T11:00:00Z")
    text = "\n".join([HEADER, row("vo_1", "r-1"), typo, row("vo_3", "r-3")])
    with pytest.raises(FileRejected) as rejected:
        await ingest_file(pool, "sandbox", "wide-file", text, utcnow)
    [error] = rejected.value.errors
    assert (error.row, error.column) == (3, "created_at")
    assert "3653 days" in error.reason and "row 2" in error.reason
    assert await pool.fetchval("SELECT count(*) FROM events") == before
