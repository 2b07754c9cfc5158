"""Closing a GL business day: append GLDayClosed with its totals and journal, exactly once.

The figures come from the GL read model (`projections.gl.closing_figures`), read under its
checkpoint's lock in the transaction that appends the close.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from ledger.db import DATABASE_ERRORS
from ledger.log import events as ev
from ledger.log import store
from projections.gl import GLNotCurrent, GLProjection, closing_figures, open_days_before

log = structlog.get_logger(__name__)
# After a failed close (database away), try again this soon rather than wait a day.
CLOSE_RETRY_S = 300.0


class CloseRefused(ValueError):
    """The day cannot be closed (not over yet, or closed already)."""


async def close_day(
    conn: asyncpg.Connection, projection: GLProjection, day: date, now: datetime
) -> ev.GLDayClosed:
    today = now.astimezone(projection.tz).date()
    if day >= today:
        raise CloseRefused(f"{day} is not over yet in {projection.tz.key} (today is {today})")
    try:
        async with closing_figures(conn, projection, day) as figures:
            closed = ev.GLDayClosed(
                business_date=day,
                closed_at=now,
                totals=figures.totals,
                journal=figures.journal,
                upto_tx_id=figures.cursor.tx_id,
                upto_position=figures.cursor.position,
            )
            try:
                await store.append(conn, f"gl:{day.isoformat()}", [closed], 0)
            except store.ConcurrencyConflict:
                raise CloseRefused(f"{day} is already closed") from None
    except GLNotCurrent as exc:
        raise CloseRefused(f"{day} cannot be closed: {exc}") from None
    return closed


def next_close(now: datetime, tz: ZoneInfo, at: time) -> datetime:
    """The next moment the clock in `tz` shows `at` (pure)."""
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tz)
    return candidate


async def run_close_schedule(
    dsn: str,
    projection: GLProjection,
    at: time,
    stop: asyncio.Event,
    clock: Callable[[], datetime],
) -> None:
    """Every day at `at` local time, close every finished day still open (yesterday, and any
    day an outage left open). Another node that closed it first makes this a no-op."""
    while not stop.is_set():
        wait = (next_close(clock(), projection.tz, at) - clock()).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(wait, 0))
        while not stop.is_set():
            try:
                await _close_open_days(dsn, projection, clock())
                break
            except DATABASE_ERRORS as exc:
                log.warning("gl close failed, will retry", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), CLOSE_RETRY_S)


async def _close_open_days(dsn: str, projection: GLProjection, now: datetime) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for day in await open_days_before(conn, now.astimezone(projection.tz).date()):
            try:
                await close_day(conn, projection, day, now)
                log.info("gl day closed", business_date=day.isoformat())
            except CloseRefused as exc:
                log.info("gl day not closed", reason=str(exc))
    finally:
        await conn.close()
