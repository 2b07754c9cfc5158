"""The general ledger pages (scope finance:read, as GET /api/v1/gl/*): daily totals per state
and currency as a chart and a table, a day's balanced journal, and CSV of what is shown.

The figures come from the API's own report functions (projections/gl/reports.py) with the
API's range rules, so a page and the API cannot disagree.
"""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web

from ledger.console.charts import daily_chart
from ledger.console.guard import page, render
from ledger.console.sessions import Session
from ledger.http import params
from ledger.http.runtime.replica import read_pool
from ledger.money import format_minor
from projections.gl import daily, daily_csv, journal_as_it_stands, journal_csv
from projections.gl.http import daily_item, gl_projection, report_range

routes = web.RouteTableDef()


async def _closed_days(conn, start: date, end: date) -> set[date]:
    rows = await conn.fetch(
        "SELECT business_date FROM gl_closed_days WHERE business_date BETWEEN $1 AND $2",
        start,
        end,
    )
    return {r["business_date"] for r in rows}


def _download(body: str, filename: str) -> web.Response:
    response = web.Response(text=body, content_type="text/csv", charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


async def _daily(request: web.Request, session: Session):
    """The API's range and currency rules, its report, and which of its days are closed."""
    start, end = report_range(request)
    currency = params.currency(request.query)
    # One snapshot, as for the journal: a close between the two reads would mark a day closed
    # beside figures from before it.
    async with (
        read_pool(request.app).acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        rows = await daily(conn, start, end, currency, session.principal.finance_client)
        closed = await _closed_days(conn, start, end)
    return start, end, currency, rows, closed


@routes.get("/console/gl")
@page("finance:read")
async def gl_page(request: web.Request, session: Session) -> web.Response:
    start, end, currency, rows, closed = await _daily(request, session)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    moved: dict[str, dict[tuple[date, str], int]] = {}
    for day, total in rows:
        moved.setdefault(total.currency, {})[(day, total.state)] = total.amount_minor
    charts = [daily_chart(cur, days, moved[cur]) for cur in sorted(moved)]
    table = [
        daily_item(day, t) | {"closed": day in closed}
        for day, t in rows
        if t.count or t.adjustment_count or t.closing_balance_minor
    ]
    return render(
        request,
        "gl.html",
        charts=charts,
        table=table,
        start=start,
        end=end,
        currency=currency or "",
        query=request.query_string,
    )


@routes.get("/console/gl/daily.csv")
@page("finance:read")
async def gl_csv(request: web.Request, session: Session) -> web.Response:
    start, end, _, rows, _ = await _daily(request, session)
    return _download(daily_csv(rows), f"gl-daily-{start.isoformat()}-to-{end.isoformat()}.csv")


async def _journal(request: web.Request, session: Session):
    day = params.day(request.query, "date")
    currency = params.currency(request.query)
    chart = gl_projection(request).chart
    async with read_pool(request.app).acquire() as conn:
        client = session.principal.finance_client
        lines, closed = await journal_as_it_stands(conn, chart, day, currency, client)
    return day, lines, closed


@routes.get("/console/gl/journal")
@page("finance:read")
async def journal_page(request: web.Request, session: Session) -> web.Response:
    day, lines, closed = await _journal(request, session)
    shown = [
        {
            "currency": line.currency,
            "account": line.account,
            "debit": format_minor(line.debit_minor, line.currency) if line.debit_minor else "",
            "credit": format_minor(line.credit_minor, line.currency) if line.credit_minor else "",
            "memo": line.memo,
            "adjustment_of": line.adjustment_of,
        }
        for line in lines
    ]
    totals: dict[str, list[int]] = {}
    for line in lines:
        sums = totals.setdefault(line.currency, [0, 0])
        sums[0] += line.debit_minor
        sums[1] += line.credit_minor
    balance = [
        {
            "currency": cur,
            "debit": format_minor(d, cur),
            "credit": format_minor(c, cur),
            "balanced": d == c,
        }
        for cur, (d, c) in sorted(totals.items())
    ]
    return render(
        request,
        "journal.html",
        day=day,
        closed=closed,
        lines=shown,
        balance=balance,
        query=request.query_string,
    )


@routes.get("/console/gl/journal.csv")
@page("finance:read")
async def journal_csv_download(request: web.Request, session: Session) -> web.Response:
    day, lines, _ = await _journal(request, session)
    return _download(journal_csv(day, lines), f"gl-journal-{day.isoformat()}.csv")
