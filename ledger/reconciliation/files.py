"""Importing a vendor's reconciliation file as a run: checked whole, then recorded in pages.

One bad row refuses the whole file (FileRejected with every error) before anything is written:
half a vendor's day in the log would read as the other half missing. A good file is a run like
a vendor listing (reconciliation_runs.run_pages) whose pages are slices of its rows, with source
"file", so it heals orders by the same rule. Parsing runs in a thread, off the event loop, and
each page commits on its own, so followers and requests keep moving during a large import; an
import cut short resumes from its last page when the same file is imported again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from ledger.log import events as ev
from ledger.reconciliation.file_format import (
    COLUMNS,
    FileRecord,
    RowError,
    parse_reconciliation_csv,
)
from ledger.reconciliation.progress import (
    Progress,
    RunSummary,
)
from ledger.reconciliation.runs import run_pages
from ledger.reconciliation.window import MAX_WINDOW, check_window

__all__ = [
    "COLUMNS",
    "FILE_PAGE_ROWS",
    "FileRecord",
    "FileRejected",
    "RowError",
    "file_run_id",
    "file_window",
    "ingest_file",
    "parse_reconciliation_csv",
]
# A file's window ends just after its last record, so the half-open window contains it.
_AFTER_LAST = timedelta(microseconds=1)
# Rows per recorded page: a listing page's size or so. A page is one transaction and a few
# tens of milliseconds of work on the event loop; 200,000 rows are 200 of them.
FILE_PAGE_ROWS = 1000


class FileRejected(ValueError):
    """The file has bad rows; nothing of it was recorded."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"reconciliation file rejected: {len(errors)} error(s)")
        self.errors = errors


def file_window(records: list[FileRecord], now: datetime) -> tuple[datetime, datetime]:
    """The span the file vouches for unless the importer names one: first to last record's
    creation. An empty file vouches for nothing. A file that also lists changes to older orders
    (a refund of last week's sale) would vouch for last week too, and report its orders missing:
    such a file is imported with its window given (ingest_file's `window`)."""
    if not records:
        return now, now
    return min(r.created_at for r in records), max(r.created_at for r in records) + _AFTER_LAST


def span_error(records: list[FileRecord]) -> RowError | None:
    """A file vouching for more than one run's window, named at its earliest row: one mistyped
    year would otherwise open every order of a decade it does not list as missing."""
    if not records:
        return None
    first = min(records, key=lambda r: r.created_at)
    last = max(records, key=lambda r: r.created_at)
    span = last.created_at - first.created_at + _AFTER_LAST
    if span <= MAX_WINDOW:
        return None
    reason = (
        f"the rows span {span.days} days, from this row to row {last.row}: more than a run's"
        f" {MAX_WINDOW.days}; import the file in parts, or with the window it covers"
    )
    return RowError(first.row, "created_at", reason)


def file_run_id(vendor: str, text: str, window: tuple[datetime, datetime] | None = None) -> str:
    """The same file for the same vendor (and the same window, if one is named) is the same
    run, so importing it twice records once."""
    digest = hashlib.sha256(text.encode())
    if window is not None:
        digest.update(f"\x00{window[0].isoformat()}\x00{window[1].isoformat()}".encode())
    return f"file-{vendor}-{digest.hexdigest()[:24]}"


def _pages_of(records: list[FileRecord]):
    """The file's rows as a listing: the cursor is the offset of the next page's first row."""

    async def next_page(progress: Progress) -> tuple[list[FileRecord], str | None]:
        first = int(progress.cursor or 0)
        rest = first + FILE_PAGE_ROWS
        return records[first:rest], str(rest) if rest < len(records) else None

    return next_page


async def ingest_file(
    pool: asyncpg.Pool,
    vendor: str,
    run_id: str,
    text: str,
    clock: Callable[[], datetime],
    window: tuple[datetime, datetime] | None = None,
) -> RunSummary:
    """Record a vendor's CSV file as the run `run_id`, or raise FileRejected and record nothing.

    `window` is the span the file vouches for, when the vendor says it (else file_window).
    If the run already completed (the same file imported before), its summary is returned with
    already_completed set and nothing is appended; if it was cut short, it is resumed. Raises
    RunInProgress while another import of the same file is under way.
    """
    records, errors = await asyncio.to_thread(parse_reconciliation_csv, text)
    if errors:
        raise FileRejected(errors)
    now = clock()
    if window is not None:
        check_window(*window)
    elif (too_wide := span_error(records)) is not None:
        raise FileRejected([too_wide])
    start, end = window or file_window(records, now)
    started = ev.ReconciliationStarted(
        run_id=run_id,
        vendor=vendor,
        window_start=start,
        window_end=end,
        started_at=now,
        source="file",
    )
    # run_pages returns a completed run's summary, resumes a cut-short one, and refuses a run
    # id that names another vendor's file or an API run (progress.check_same).
    return await run_pages(pool, started, _pages_of(records), clock)
