"""Importing a vendor's reconciliation file as a run: all of it in one transaction, or none.

One bad row refuses the whole file (FileRejected with every error): half a vendor's day in the
log would read as the other half missing. A good file is recorded exactly as a listed page is
(reconciliation_record), with source "file", so it heals orders by the same rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from ledger.log import events as ev
from ledger.log.store import ConcurrencyConflict
from ledger.reconciliation.file_format import (
    COLUMNS,
    FileRecord,
    RowError,
    parse_reconciliation_csv,
)
from ledger.reconciliation.progress import (
    Progress,
    RunMismatch,
    RunSummary,
    load_progress,
    summary,
)
from ledger.reconciliation.record import Page, record_page, run_stream

__all__ = [
    "COLUMNS",
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


class FileRejected(ValueError):
    """The file has bad rows; nothing of it was recorded."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"reconciliation file rejected: {len(errors)} error(s)")
        self.errors = errors


def file_window(records: list[FileRecord], now: datetime) -> tuple[datetime, datetime]:
    """The span the file vouches for: first to last record. An empty file vouches for nothing."""
    if not records:
        return now, now
    return min(r.created_at for r in records), max(r.created_at for r in records) + _AFTER_LAST


def file_run_id(vendor: str, text: str) -> str:
    """The same file for the same vendor is the same run, so importing it twice records once."""
    return f"file-{vendor}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def _existing(progress: Progress, vendor: str) -> RunSummary:
    # The window is not compared: an empty file's window is the moment it was first imported.
    if progress.started.source != "file":
        raise RunMismatch(progress.started.run_id, "source")
    if progress.started.vendor != vendor:
        raise RunMismatch(progress.started.run_id, "vendor")
    return summary(progress, already_completed=True)


async def ingest_file(
    pool: asyncpg.Pool, vendor: str, run_id: str, text: str, clock: Callable[[], datetime]
) -> RunSummary:
    """Record a vendor's CSV file as the run `run_id`, or raise FileRejected and record nothing.

    If the run already exists (the same file imported before), its summary is returned with
    already_completed set and nothing is appended.
    """
    records, errors = parse_reconciliation_csv(text)
    if errors:
        raise FileRejected(errors)
    if (progress := await load_progress(pool, run_id)) is not None:
        return _existing(progress, vendor)
    now = clock()
    start, end = file_window(records, now)
    started = ev.ReconciliationStarted(
        run_id=run_id,
        vendor=vendor,
        window_start=start,
        window_end=end,
        started_at=now,
        source="file",
    )
    completed = ev.ReconciliationCompleted(
        run_id=run_id, records_seen=len(records), pages=1, completed_at=now
    )
    try:
        async with pool.acquire() as conn:
            page = Page(1, records, None)
            outcome = await record_page(conn, started, 0, page, now, after=[completed])
    except ConcurrencyConflict as exc:
        if exc.stream_id != run_stream(run_id):
            raise
        # The same file, imported concurrently, committed first: report that import.
        if (progress := await load_progress(pool, run_id)) is None:
            raise
        return _existing(progress, vendor)
    done = Progress(
        started=started,
        version=outcome.run_version,
        pages=1,
        records=len(records),
        unmatched=outcome.unmatched,
        listed=True,
        completed=completed,
    )
    return summary(done, already_completed=False)
