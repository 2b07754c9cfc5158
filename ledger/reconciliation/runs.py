"""Reconciliation runs: page through a vendor's transaction listing into the log, resumably.

A run is the stream `reconciliation:{run_id}`: ReconciliationStarted, one
ReconciliationPageRecorded per page (each page's observations commit with it, see
reconciliation_record), then ReconciliationCompleted. A run that stops anywhere resumes after
its last recorded page; one process works a run at a time (an advisory lease on the run id).
No transaction is open while the vendor is called.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import asyncpg
import msgspec
import structlog

from ledger.log import events as ev
from ledger.log import store
from ledger.log.leases import LeaseKind, release, try_lease
from ledger.log.store import ConcurrencyConflict
from ledger.reconciliation.corrections import VendorRecord
from ledger.reconciliation.progress import (
    Progress,
    RunMismatch,
    RunSummary,
    check_same,
    load_progress,
    summary,
)
from ledger.reconciliation.record import OrderConflict, Page, record_page, run_stream
from ledger.reconciliation.window import (
    DEFAULT_OVERLAP,
    LISTING_LEAD,
    check_window,
    page_backoff,
    scheduled_window,
)
from ledger.vendors.base import TransactionPage, VendorUnavailable
from ledger.vendors.client import VendorClient

__all__ = [
    "DEFAULT_OVERLAP",
    "OrderConflict",
    "PageUnavailable",
    "RunInProgress",
    "RunMismatch",
    "RunSummary",
    "run_pages",
    "run_reconciliation",
    "scheduled_window",
]
log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[object]]


class RunInProgress(Exception):
    """Another process holds this run (or recorded its page first); try again later."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"reconciliation run {run_id!r} is being worked by another process")
        self.run_id = run_id


class PageUnavailable(Exception):
    """The vendor could not list a page within the retries; the run resumes from this page."""

    def __init__(self, run_id: str, page: int, reason: str) -> None:
        super().__init__(f"run {run_id!r} stopped at page {page}: {reason}")
        self.run_id, self.page, self.reason = run_id, page, reason


async def _list_page(
    client: VendorClient, progress: Progress, page_size: int, retries: int, sleep: Sleep
) -> TransactionPage:
    run, page = progress.started, progress.pages + 1
    for retry in range(retries + 1):
        try:
            listing = await client.adapter.list_transactions(
                run.window_start - LISTING_LEAD, run.window_end, progress.cursor, page_size
            )
        except VendorUnavailable as exc:
            if retry == retries:
                raise PageUnavailable(run.run_id, page, str(exc)) from exc
            delay = page_backoff(retry, exc.retry_after)
            log.info("reconciliation_page_retry", run_id=run.run_id, page=page, delay=delay)
            await sleep(delay)
            continue
        if listing.next_cursor is not None and listing.next_cursor == progress.cursor:
            # A cursor that does not move would list the same page forever.
            raise PageUnavailable(run.run_id, page, "the vendor repeated the cursor")
        return listing
    raise AssertionError("unreachable: the last retry returns or raises")  # pragma: no cover


# What a run reads its pages from, the vendor's listing or a file's rows: the page after
# `progress` as (records, cursor of the page after it, None on the last page).
NextPage = Callable[[Progress], Awaitable[tuple[Sequence[VendorRecord], str | None]]]


async def _run(
    pool: asyncpg.Pool, wanted: ev.ReconciliationStarted, next_page: NextPage, clock: Clock
) -> RunSummary:
    run_id = wanted.run_id
    meta = {"actor": "reconciliation", "causation_id": run_id}
    progress = await load_progress(pool, run_id)
    if progress is None:
        try:
            version = await store.append(pool, run_stream(run_id), [wanted], 0, metadata=meta)
        except ConcurrencyConflict:
            raise RunInProgress(run_id) from None
        progress = Progress(started=wanted, version=version)
    check_same(progress.started, wanted)
    if progress.completed is not None:
        return summary(progress, already_completed=True)
    if not progress.listed:
        progress = await _record_pages(pool, progress, next_page, clock)
    completed = ev.ReconciliationCompleted(
        run_id=run_id, records_seen=progress.records, pages=progress.pages, completed_at=clock()
    )
    await store.append(pool, run_stream(run_id), [completed], progress.version, metadata=meta)
    log.info("reconciliation_completed", run_id=run_id, records=progress.records)
    return summary(msgspec.structs.replace(progress, completed=completed), already_completed=False)


async def _record_pages(
    pool: asyncpg.Pool, progress: Progress, next_page: NextPage, clock: Clock
) -> Progress:
    """Record every page still to come, listing page N+1 while page N is being recorded.

    The listing ahead needs only page N's cursor, known once page N is listed, so the vendor's
    time and ours overlap instead of adding up. Each page still commits on its own, in order;
    a listing that fails surfaces once the page before it is recorded, so a resumed run starts
    exactly there, and one still running when recording fails is cancelled.
    """
    run = progress.started
    listing = asyncio.create_task(next_page(progress))
    try:
        while True:
            records, next_cursor = await listing
            page = progress.pages + 1
            ahead = msgspec.structs.replace(
                progress,
                pages=page,
                records=progress.records + len(records),
                cursor=next_cursor,
                listed=next_cursor is None,
            )
            if not ahead.listed:
                listing = asyncio.create_task(next_page(ahead))
            listed = Page(page, records, next_cursor)
            async with pool.acquire() as conn:
                outcome = await record_page(conn, run, progress.version, listed, clock())
            progress = msgspec.structs.replace(
                ahead,
                version=outcome.run_version,
                unmatched=progress.unmatched + outcome.unmatched,
            )
            corrected = outcome.corrections
            log.debug("reconciliation_page", run_id=run.run_id, page=page, corrected=corrected)
            if progress.listed:
                return progress
    finally:
        if not listing.done():
            listing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listing


async def run_pages(
    pool: asyncpg.Pool, wanted: ev.ReconciliationStarted, next_page: NextPage, clock: Clock
) -> RunSummary:
    """Start or resume the run `wanted`, page by page from next_page, under the run's lease.

    Each page commits on its own; no transaction is open while a page is fetched.
    """
    run_id = wanted.run_id
    async with pool.acquire() as lease_conn:
        try:
            leased = await try_lease(lease_conn, LeaseKind.RECONCILIATION, run_id)
        except BaseException:
            # Cancelled or failed with the lock perhaps granted: this session must not go back
            # to the pool, which resets nothing (ledger.db), still holding it.
            lease_conn.terminate()
            raise
        if not leased:
            raise RunInProgress(run_id)
        try:
            return await _run(pool, wanted, next_page, clock)
        except ConcurrencyConflict as exc:  # only the run stream's strict appends raise it
            raise RunInProgress(run_id) from exc
        finally:
            try:
                await release(lease_conn, LeaseKind.RECONCILIATION, run_id)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                # Not released (a broken connection has dropped it with its session): as above.
                lease_conn.terminate()
            except BaseException:
                lease_conn.terminate()
                raise


async def run_reconciliation(
    pool: asyncpg.Pool,
    client: VendorClient,
    *,
    run_id: str,
    window_start: datetime,
    window_end: datetime,
    clock: Clock,
    page_size: int = 500,
    page_retries: int = 5,
    sleep: Sleep = asyncio.sleep,
    on_page: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Reconcile [window_start, window_end) with the client's vendor under run_id;
    `on_page(pages, records)` is told before each page is listed.

    Resumes the run if it exists; returns its summary at once if it completed. Raises
    RunInProgress (another process has it), PageUnavailable (vendor down past the retries),
    OrderConflict (a page's orders kept changing) or RunMismatch (the run id names another
    run). After any of them but the last, calling again resumes from the last recorded page.
    """
    check_window(window_start, window_end)
    wanted = ev.ReconciliationStarted(
        run_id=run_id,
        vendor=client.adapter.name,
        window_start=window_start,
        window_end=window_end,
        started_at=clock(),
    )

    async def next_page(progress: Progress) -> tuple[Sequence[VendorRecord], str | None]:
        if on_page is not None:
            on_page(progress.pages, progress.records)
        listing = await _list_page(client, progress, page_size, page_retries, sleep)
        return listing.records, listing.next_cursor

    return await run_pages(pool, wanted, next_page, clock)
