"""Finance routes for the GL and the order list (scope finance:read)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec
from aiohttp import web

from ledger.http import params
from ledger.http.auth import authorize
from ledger.http.keys import PROJECTIONS
from ledger.http.problems import Problem
from ledger.http.runtime.replica import read_pool
from ledger.log.events import GLTotal
from ledger.money import format_minor
from ledger.orders.model import OrderState
from projections.gl.projection import GLProjection
from projections.gl.reports import daily, daily_csv, journal_as_it_stands, journal_csv
from projections.orders import order_list_query

routes = web.RouteTableDef()
_encoder = msgspec.json.Encoder()
# A report spans at most a year: enough for any close, bounded for the database.
MAX_RANGE_DAYS = 366
# Without from/to, the daily report shows the last month.
DEFAULT_RANGE_DAYS = 30
ORDER_STATUSES = ("pending", "fulfilled", "failed", "refunded")


def gl_projection(request: web.Request) -> GLProjection:
    projection = request.app[PROJECTIONS]["gl"]
    assert isinstance(projection, GLProjection)
    return projection


def report_range(request: web.Request) -> tuple[date, date]:
    today = datetime.now(UTC).astimezone(gl_projection(request).tz).date()
    end = params.day(request.query, "to", today)
    start = params.day(request.query, "from", end - timedelta(days=DEFAULT_RANGE_DAYS))
    if start > end:
        raise Problem(400, "invalid_parameter", "from: must not be after to", field="from")
    if (end - start).days > MAX_RANGE_DAYS:
        raise Problem(
            400, "invalid_parameter", f"to: a range spans at most {MAX_RANGE_DAYS} days", field="to"
        )
    return start, end


# Excel opens a UTF-8 CSV as UTF-8 only when the file starts with a byte-order mark.
_EXCEL_BOM = "\ufeff"


def _csv(request: web.Request, body: str, filename: str) -> web.Response:
    """A CSV download named for what it holds; `?excel=true` adds the mark Excel needs. Amount
    columns are exact decimal text: read them as text (pandas: dtype=str), never as floats."""
    excel = params.choice(request.query, "excel", ("true", "false")) == "true"
    response = web.Response(
        text=(_EXCEL_BOM if excel else "") + body, content_type="text/csv", charset="utf-8"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


async def _daily_rows(request: web.Request):
    """The report's range and its rows; the caller is authorised first (a 401 before a 400)."""
    principal = await authorize(request, "finance:read")
    start, end = report_range(request)
    currency = params.currency(request.query)
    async with read_pool(request.app).acquire() as conn:
        return start, end, await daily(conn, start, end, currency, principal.finance_client)


def daily_item(day: date, t: GLTotal) -> dict[str, object]:
    """One row of the daily report as the API (and the console) shows it."""
    return {
        "business_date": day,
        "currency": t.currency,
        "state": t.state,
        "count": t.count,
        "amount": format_minor(t.amount_minor, t.currency),
        "adjustment_count": t.adjustment_count,
        "adjustment_amount": format_minor(t.adjustment_minor, t.currency),
        "closing_balance": format_minor(t.closing_balance_minor, t.currency),
    }


@routes.get("/api/v1/gl/daily")
async def gl_daily(request: web.Request) -> web.Response:
    _, _, rows = await _daily_rows(request)
    days = [daily_item(d, t) for d, t in rows]
    return web.Response(body=_encoder.encode({"days": days}), content_type="application/json")


@routes.get("/api/v1/gl/daily.csv")
async def gl_daily_csv(request: web.Request) -> web.Response:
    start, end, rows = await _daily_rows(request)
    name = f"gl-daily-{start.isoformat()}-to-{end.isoformat()}.csv"
    return _csv(request, daily_csv(rows), name)


async def _journal(request: web.Request):
    principal = await authorize(request, "finance:read")
    day = params.day(request.query, "date")
    currency = params.currency(request.query)
    async with read_pool(request.app).acquire() as conn:
        lines, closed = await journal_as_it_stands(
            conn, gl_projection(request).chart, day, currency, principal.finance_client
        )
    return day, lines, closed


@routes.get("/api/v1/gl/journal")
async def gl_journal(request: web.Request) -> web.Response:
    day, lines, closed = await _journal(request)
    body = {
        "business_date": day,
        "closed": closed,
        "lines": [
            {
                "currency": line.currency,
                "account": line.account,
                "debit": format_minor(line.debit_minor, line.currency),
                "credit": format_minor(line.credit_minor, line.currency),
                "memo": line.memo,
                "adjustment_of": line.adjustment_of,
            }
            for line in lines
        ],
    }
    return web.Response(body=_encoder.encode(body), content_type="application/json")


@routes.get("/api/v1/gl/journal.csv")
async def gl_journal_csv(request: web.Request) -> web.Response:
    day, lines, _ = await _journal(request)
    return _csv(request, journal_csv(day, lines), f"gl-journal-{day.isoformat()}.csv")


@routes.get("/api/v1/orders")
async def list_orders(request: web.Request) -> web.Response:
    """All of the caller's orders, filtered, in creation order, keyset-paged."""
    principal = await authorize(request, "finance:read")
    query = request.query
    status = params.choice(query, "status", ORDER_STATUSES)
    start, end = params.window(query)
    limit = params.limit(query)
    after = params.decode_cursor(query, tuple[datetime, str])
    rows = await read_pool(request.app).fetch(
        *order_list_query(
            principal.client_id,
            status=status,
            start=start,
            end=end,
            customer_id=query.get("customer_id"),
            after=after,
            limit=limit + 1,
        )
    )
    page = [OrderState(*r) for r in rows[:limit]]
    items = [
        {
            "idempotency_key": o.idempotency_key,
            "status": o.status,
            "currency": o.currency,
            "amount": format_minor(o.amount_minor, o.currency),
            "customer_id": o.customer_id,
            "brand_id": o.brand_id,
            "vendor_order_id": o.vendor_order_id,
            "created_at": o.created_at,
            "updated_at": o.updated_at,
            "source": o.source,
            "batch_id": o.batch_id,
        }
        for o in page
    ]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = params.encode_cursor([page[-1].created_at, page[-1].stream_id])
    return web.Response(
        body=_encoder.encode({"items": items, "next": next_cursor}), content_type="application/json"
    )
