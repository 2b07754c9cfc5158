"""GL reports read from the projection's postings: daily totals, a day's journal, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date
from typing import NamedTuple

import asyncpg

from ledger.log import events as ev
from ledger.log.store import Cursor
from ledger.money import format_minor
from projections.base import schema_fingerprint
from projections.checkpoints import locked_checkpoint
from projections.gl.postings import Entry, Movement, Posting, daily_totals, journal
from projections.gl.projection import GLProjection
from projections.runner import catch_up

DAILY_COLUMNS = (
    "business_date",
    "currency",
    "state",
    "count",
    "amount",
    "adjustment_count",
    "adjustment_amount",
    "closing_balance",
)
JOURNAL_COLUMNS = (
    "business_date",
    "currency",
    "account",
    "debit",
    "credit",
    "memo",
    "adjustment_of",
)


# The days asked for, and before them one row per currency and move summing every earlier day,
# dated the day before `start`: enough for the opening balances, which is all daily_totals
# takes from earlier days. Both halves read gl_daily, so the cost follows days, not postings.
_DAILY_FILTER = "($3::text IS NULL OR currency = $3) AND ($4::text IS NULL OR client_id = $4)"
_DAILY = f"""
    SELECT posting_date, currency, from_state, to_state, sum(count)::bigint AS count,
           sum(amount_minor)::bigint AS amount_minor,
           sum(adjustment_count)::bigint AS adjustment_count,
           sum(adjustment_minor)::bigint AS adjustment_minor
    FROM gl_daily WHERE posting_date BETWEEN $1 AND $2 AND {_DAILY_FILTER}
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT $1::date - 1, currency, from_state, to_state, sum(count)::bigint,
           sum(amount_minor)::bigint, sum(adjustment_count)::bigint, sum(adjustment_minor)::bigint
    FROM gl_daily WHERE posting_date < $1 AND {_DAILY_FILTER}
    GROUP BY 2, 3, 4"""


async def daily(
    conn: asyncpg.Connection, start: date, end: date, currency: str | None, client: str | None
) -> list[tuple[date, ev.GLTotal]]:
    """Totals per day, currency and state; of one client's orders, or (None) of every client's."""
    rows = await conn.fetch(_DAILY, start, end, currency, client)
    return daily_totals([Movement(**dict(r)) for r in rows], start)


async def day_journal(
    conn: asyncpg.Connection,
    chart: Mapping[str, Entry | None],
    day: date,
    currency: str | None,
    client: str | None,
) -> list[ev.JournalLine]:
    rows = await conn.fetch(
        """SELECT id, posting_date, currency, from_state, to_state, amount_minor, adjustment_of
           FROM gl_postings WHERE posting_date = $1 AND ($2::text IS NULL OR currency = $2)
             AND ($3::text IS NULL OR client_id = $3)""",
        day,
        currency,
        client,
    )
    return journal([Posting(**dict(r)) for r in rows], chart)


async def journal_as_it_stands(
    conn: asyncpg.Connection,
    chart: Mapping[str, Entry | None],
    day: date,
    currency: str | None,
    client: str | None,
) -> tuple[list[ev.JournalLine], bool]:
    """The day's journal and whether the day is closed, read in one snapshot: read apart, a
    close applied between them showed `closed` beside the lines it then moved out."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        lines = await day_journal(conn, chart, day, currency, client)
        closed = await conn.fetchval(
            "SELECT true FROM gl_closed_days WHERE business_date = $1", day
        )
    return lines, bool(closed)


def _csv(header: tuple[str, ...], rows: list[tuple]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def daily_csv(rows: list[tuple[date, ev.GLTotal]]) -> str:
    return _csv(
        DAILY_COLUMNS,
        [
            (
                day.isoformat(),
                t.currency,
                t.state,
                t.count,
                format_minor(t.amount_minor, t.currency),
                t.adjustment_count,
                format_minor(t.adjustment_minor, t.currency),
                format_minor(t.closing_balance_minor, t.currency),
            )
            for day, t in rows
        ],
    )


def journal_csv(day: date, lines: list[ev.JournalLine]) -> str:
    return _csv(
        JOURNAL_COLUMNS,
        [
            (
                day.isoformat(),
                line.currency,
                line.account,
                format_minor(line.debit_minor, line.currency),
                format_minor(line.credit_minor, line.currency),
                line.memo,
                line.adjustment_of.isoformat() if line.adjustment_of else "",
            )
            for line in lines
        ],
    )


class GLNotCurrent(RuntimeError):
    """The GL's tables have an older shape than this code's and are being rebuilt: until the
    rebuild swaps new ones in, their figures (gl_daily above all, new in issue 15) are not the
    whole ledger's, and nothing permanent may be made of them."""


class DayFigures(NamedTuple):
    cursor: Cursor  # the GL checkpoint the figures were read at
    totals: list[ev.GLTotal]
    journal: list[ev.JournalLine]


async def _require_current(conn: asyncpg.Connection, projection: GLProjection) -> None:
    stored_shape = await conn.fetchval(
        "SELECT schema_hash FROM projection_checkpoints WHERE name = $1", projection.name
    )
    if stored_shape != schema_fingerprint(projection):
        raise GLNotCurrent(
            "the GL read model was built for another table shape, business zone or chart than"
            " this process's: after an upgrade, wait for the service's rebuild; otherwise run"
            " this with the service's BUSINESS_TZ and GL_ACCOUNTS_FILE (a rebuild from here"
            " would date every posting in this process's zone)"
        )


@asynccontextmanager
async def closing_figures(
    conn: asyncpg.Connection, projection: GLProjection, day: date
) -> AsyncIterator[DayFigures]:
    """The day's totals and journal, caught up, inside a transaction the caller appends in.

    The checkpoint row stays locked until that transaction ends, so no batch can move the day
    between these figures and the caller's GLDayClosed, and the event can name that cursor:
    moves applied after it post after the latest closed day on every replay.
    """
    # Before catching up: this process's zone or chart differing from the service's would fold
    # the events the runner has not applied yet into the live tables on the wrong days.
    await _require_current(conn, projection)
    await catch_up(conn, projection)
    async with conn.transaction():
        cursor = await locked_checkpoint(conn, projection.name)
        await _require_current(conn, projection)  # again: a rebuild may have swapped meanwhile
        # The book closes for the whole ledger: every client's orders.
        totals = [t for d, t in await daily(conn, day, day, None, None) if d == day]
        lines = await day_journal(conn, projection.chart, day, None, None)
        yield DayFigures(cursor, totals, lines)


async def open_days_before(conn: asyncpg.Connection, today: date) -> list[date]:
    """Days with postings before today that are not closed yet, oldest first."""
    rows = await conn.fetch(
        """SELECT DISTINCT posting_date FROM gl_daily p
           WHERE posting_date < $1
             AND NOT EXISTS (SELECT 1 FROM gl_closed_days c WHERE c.business_date = p.posting_date)
           ORDER BY 1""",
        today,
    )
    return [r["posting_date"] for r in rows]
