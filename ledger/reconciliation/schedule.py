"""The nightly reconciliation: each configured vendor's previous business day, on every node.

Run ids are deterministic (`scheduled-{vendor}-{date}`), so nodes agree on them: the first takes
the run's lease, the others get RunInProgress or find it completed. A node that starts late or
restarts catches up on every day it missed (up to CATCH_UP_DAYS), and an unfinished run is
resumed on a later check.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import asyncpg
import structlog

from ledger.reconciliation.runs import RunInProgress, Sleep, run_reconciliation
from ledger.reconciliation.window import (
    DEFAULT_OVERLAP,
    DEFAULT_SCHEDULE_AT,
    days_to_catch_up,
    due_business_date,
    next_run_at,
    scheduled_run_id,
    scheduled_window,
)
from ledger.vendors.client import VendorClient

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]

# A vendor outage, or a run another node holds (it may have died), is checked again this soon;
# each check resumes from the last recorded page, so a retry costs one listing call.
RECHECK_AFTER = timedelta(minutes=10)
# Nightly runs missed during an outage are caught up this many days back (each completed day
# costs one read of its run's stream per check); an outage longer than that is an operator's
# `run.py reconcile --from --to`, since the GL may have closed those days meanwhile.
CATCH_UP_DAYS = 7
# Long sleeps are taken in slices this long and the clock re-read, so a wall-clock step (NTP,
# a suspended VM) moves the nightly run by at most this much.
MAX_SLEEP_S = 300.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def reconcile_day(
    pool: asyncpg.Pool,
    clients: Mapping[str, VendorClient],
    business_date: date,
    *,
    tz: tzinfo,
    overlap: timedelta = DEFAULT_OVERLAP,
    clock: Clock = _utcnow,
    sleep: Sleep = asyncio.sleep,
) -> list[str]:
    """Run, resume or confirm each vendor's run for the day; return the vendors left unfinished."""
    start, end = scheduled_window(business_date, tz, overlap)
    unfinished = []
    for vendor, client in sorted(clients.items()):
        run_id = scheduled_run_id(vendor, business_date)
        try:
            summary = await run_reconciliation(
                pool,
                client,
                run_id=run_id,
                window_start=start,
                window_end=end,
                clock=clock,
                sleep=sleep,
            )
        except RunInProgress:
            log.info("scheduled_reconciliation_elsewhere", run_id=run_id)
            unfinished.append(vendor)
        except Exception:
            # The schedule outlives any one failure (vendor down, database restarting): the
            # run is left resumable and checked again later.
            log.exception("scheduled_reconciliation_failed", run_id=run_id)
            unfinished.append(vendor)
        else:
            if not summary.already_completed:
                log.info(
                    "scheduled_reconciliation_done", run_id=run_id, records=summary.records_seen
                )
    return unfinished


async def _first_business_date(pool: asyncpg.Pool, tz: tzinfo, default: date) -> date:
    """The business date of the log's first event (`default` for an empty log)."""
    first = await pool.fetchval("SELECT recorded_at FROM events ORDER BY position LIMIT 1")
    return first.astimezone(tz).date() if first is not None else default


async def _sleep_until(wake: datetime, clock: Clock, stop: asyncio.Event) -> None:
    while not stop.is_set():
        remaining = (wake - clock()).total_seconds()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(remaining, MAX_SLEEP_S))


async def run_schedule(
    pool: asyncpg.Pool,
    clients: Mapping[str, VendorClient],
    stop: asyncio.Event,
    *,
    tz: tzinfo,
    at: time = DEFAULT_SCHEDULE_AT,
    overlap: timedelta = DEFAULT_OVERLAP,
    clock: Clock = _utcnow,
    recheck_after: timedelta = RECHECK_AFTER,
) -> None:
    """Until stop is set: reconcile the due business day for every vendor, daily at `at` local.

    A run cancelled mid-page (shutdown) rolls that page back; the next check, on any node,
    resumes it.
    """
    while not stop.is_set():
        now = clock()
        due = due_business_date(now, tz, at)
        unfinished: list[str] = []
        for day in days_to_catch_up(due, await _first_business_date(pool, tz, due), CATCH_UP_DAYS):
            left = await reconcile_day(pool, clients, day, tz=tz, overlap=overlap, clock=clock)
            unfinished += left
        wake = next_run_at(now, tz, at)
        if unfinished:
            wake = min(wake, now + recheck_after)
        await _sleep_until(wake, clock, stop)
