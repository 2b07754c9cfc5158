"""A run's stream folded into where it stands: its progress, and its summary once complete.

Pure except load_progress. A resumed run continues from this fold, and a completed run's
summary is rebuilt from it, so both agree with the log whatever process wrote it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log import store
from ledger.reconciliation.record import run_stream


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    vendor: str
    source: Literal["vendor_api", "file"]
    window_start: datetime
    window_end: datetime
    records_seen: int
    pages: int
    # Records whose reference matches none of our orders (observed on the run's stream).
    unmatched: int
    completed_at: datetime
    # True when the run had completed before this call, which then appended nothing.
    already_completed: bool = False


class RunMismatch(ValueError):
    """The run id exists with another vendor, window or source; `field` says which."""

    def __init__(self, run_id: str, field: str) -> None:
        super().__init__(f"run {run_id!r} already exists with a different {field}")
        self.run_id, self.field = run_id, field


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """Pure fold of a run stream: where a resumed run picks up."""

    started: ev.ReconciliationStarted
    version: int
    pages: int = 0
    records: int = 0
    unmatched: int = 0
    cursor: str | None = None
    listed: bool = False  # the vendor's last page (no next cursor) is recorded
    completed: ev.ReconciliationCompleted | None = None


def progress_of(recorded: list[store.RecordedEvent]) -> Progress | None:
    progress = None
    for event in (r.decode() for r in recorded):
        if isinstance(event, ev.ReconciliationStarted):
            progress = Progress(started=event, version=0)
        elif progress is None:
            continue
        elif isinstance(event, ev.VendorRecordObserved):
            progress = msgspec.structs.replace(progress, unmatched=progress.unmatched + 1)
        elif isinstance(event, ev.ReconciliationPageRecorded):
            progress = msgspec.structs.replace(
                progress,
                pages=event.page,
                records=progress.records + event.records,
                cursor=event.next_cursor,
                listed=event.next_cursor is None,
            )
        elif isinstance(event, ev.ReconciliationCompleted):
            progress = msgspec.structs.replace(progress, completed=event)
    if progress is None:
        return None
    return msgspec.structs.replace(progress, version=len(recorded))


def summary(progress: Progress, *, already_completed: bool) -> RunSummary:
    started, completed = progress.started, progress.completed
    if completed is None:
        raise ValueError(f"run {started.run_id!r} has not completed: it has no summary yet")
    return RunSummary(
        run_id=started.run_id,
        vendor=started.vendor,
        source=started.source,
        window_start=started.window_start,
        window_end=started.window_end,
        records_seen=completed.records_seen,
        pages=completed.pages,
        unmatched=progress.unmatched,
        completed_at=completed.completed_at,
        already_completed=already_completed,
    )


async def load_progress(pool: asyncpg.Pool, run_id: str) -> Progress | None:
    return progress_of(await store.read_stream(pool, run_stream(run_id)))


def check_same(started: ev.ReconciliationStarted, wanted: ev.ReconciliationStarted) -> None:
    """A resumed run must be the run it was: same vendor, window and source.

    A file's window is not compared: its run id is its content's digest, so the same id is the
    same file, and an empty file's window is the moment it was first imported.
    """
    fields = ["vendor", "source"]
    if wanted.source != "file":
        fields += ["window_start", "window_end"]
    for field in fields:
        if getattr(started, field) != getattr(wanted, field):
            raise RunMismatch(started.run_id, field)
