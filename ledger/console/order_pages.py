"""Orders (scope finance:read, the key's own client's, as GET /api/v1/orders): search by key,
customer, status and date; an order's page with its whole trail and never its card. And the
reconciliation runs (finance:all, as in the API) and bulk batches with their progress."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from urllib.parse import quote

from aiohttp import web

from ledger.bulk.batches import batch_progress
from ledger.console.guard import Refused, page, render
from ledger.console.sessions import Session
from ledger.console.trail import trail
from ledger.http import params
from ledger.http.keys import POOL
from ledger.http.runtime.replica import read_pool
from ledger.log import store
from ledger.money import format_minor
from ledger.orders.model import OrderState, fold, order_stream
from projections.discrepancies import run_view
from projections.gl.http import ORDER_STATUSES, gl_projection
from projections.orders import order_list_query

routes = web.RouteTableDef()
PAGE_SIZE = 50
# Batches shown: the latest, enough for a campaign week.
BATCHES_SHOWN = 50


def _day_start(request: web.Request, name: str) -> datetime | None:
    if not request.query.get(name):
        return None
    day = params.day(request.query, name)
    return datetime.combine(day, time(), gl_projection(request).tz)


@routes.get("/console/orders")
@page("finance:read")
async def orders_page(request: web.Request, session: Session) -> web.Response:
    query = request.query
    key = query.get("key", "").strip()
    if key:
        raise web.HTTPSeeOther(f"/console/orders/{quote(key, safe='')}")
    status = params.choice(query, "status", ORDER_STATUSES) if query.get("status") else None
    start, end = _day_start(request, "from"), _day_start(request, "to")
    after = params.decode_cursor(query, tuple[datetime, str])
    rows = await read_pool(request.app).fetch(
        *order_list_query(
            session.principal.client_id,
            status=status,
            start=start,
            end=end + timedelta(days=1) if end else None,
            customer_id=query.get("customer_id") or None,
            after=after,
            limit=PAGE_SIZE + 1,
        )
    )
    orders = [OrderState(*r) for r in rows[:PAGE_SIZE]]
    next_cursor = None
    if len(rows) > PAGE_SIZE:
        next_cursor = params.encode_cursor([orders[-1].created_at, orders[-1].stream_id])
    return render(
        request,
        "orders.html",
        orders=[(o, format_minor(o.amount_minor, o.currency)) for o in orders],
        statuses=ORDER_STATUSES,
        filters={k: query.get(k, "") for k in ("customer_id", "status", "from", "to")},
        next=next_cursor,
    )


@routes.get("/console/orders/{key}")
@page("finance:read")
async def order_page(request: web.Request, session: Session) -> web.Response:
    key = request.match_info["key"]
    client = session.principal.client_id
    # The stream itself, not the read model a moment behind it: the page shows the order as
    # its last event left it, and the trail and the summary cannot disagree.
    recorded = await store.read_stream(request.app[POOL], order_stream(client, key))
    order = fold(recorded)
    if order is None or order.client_id != client:
        raise Refused(404, "Not found", f"No order of yours has the idempotency key {key!r}.")
    return render(
        request,
        "order.html",
        order=order,
        amount=format_minor(order.amount_minor, order.currency),
        trail=trail(recorded),
    )


@routes.get("/console/runs")
@page("finance:all")
async def runs_page(request: web.Request, _session: Session) -> web.Response:
    rows = await read_pool(request.app).fetch(
        "SELECT * FROM reconciliation_runs ORDER BY started_at DESC LIMIT $1", PAGE_SIZE
    )
    return render(request, "runs.html", runs=[run_view(r) for r in rows])


@routes.get("/console/batches")
@page("orders:write")
async def batches_page(request: web.Request, session: Session) -> web.Response:
    pool = request.app[POOL]
    client = session.principal.client_id
    ids = await pool.fetch(
        """SELECT batch_id, min(created_at) AS first FROM orders_view
           WHERE client_id = $1 AND batch_id IS NOT NULL
           GROUP BY batch_id ORDER BY first DESC LIMIT $2""",
        client,
        BATCHES_SHOWN,
    )
    batches = [await batch_progress(pool, client, r["batch_id"]) for r in ids]
    return render(request, "batches.html", batches=[b for b in batches if b is not None])
