"""Today (scope finance:read): the business day's orders by status, pending orders by age, the
vendors' breakers, projection lag, and the last reconciliation per vendor."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from aiohttp import web

from ledger.console.guard import page, render
from ledger.console.sessions import Session
from ledger.http.keys import POOL, PROJECTIONS, VENDORS
from projections.discrepancies import run_view
from projections.gl.http import gl_projection
from projections.runner import lag

routes = web.RouteTableDef()
STATUSES = ("pending", "fulfilled", "failed", "refunded")
# Pending ages an operator acts on differently: normal, slow, stuck, an incident.
AGE_BUCKETS = (("under 1 min", 60), ("1-10 min", 600), ("10-60 min", 3600), ("over 1 h", None))

_BY_STATUS = """
    SELECT status, count(*) AS n FROM orders_view
    WHERE created_at >= $1 AND created_at < $2 AND ($3::text IS NULL OR client_id = $3)
    GROUP BY status"""
_PENDING_AGES = """
    SELECT extract(epoch FROM clock_timestamp() - created_at) AS age_s FROM orders_view
    WHERE status = 'pending' AND ($1::text IS NULL OR client_id = $1)"""
# The latest run per vendor, finished or not.
_LAST_RUNS = """
    SELECT DISTINCT ON (vendor) * FROM reconciliation_runs ORDER BY vendor, started_at DESC"""


def _bucket(age_s: float) -> str:
    for label, bound in AGE_BUCKETS:
        if bound is None or age_s < bound:
            return label
    raise AssertionError("the last bucket has no bound")


@routes.get("/console/today")
@page("finance:read")
async def today_page(request: web.Request, session: Session) -> web.Response:
    tz = gl_projection(request).tz
    day = datetime.now(UTC).astimezone(tz).date()
    start = datetime.combine(day, time(), tz)
    client = session.principal.finance_client
    async with request.app[POOL].acquire() as conn:
        counts = dict.fromkeys(STATUSES, 0)
        counts |= {
            r["status"]: r["n"]
            for r in await conn.fetch(_BY_STATUS, start, start + timedelta(days=1), client)
        }
        ages = dict.fromkeys((label for label, _ in AGE_BUCKETS), 0)
        for r in await conn.fetch(_PENDING_AGES, client):
            ages[_bucket(float(r["age_s"]))] += 1
        lags = await lag(conn, list(request.app[PROJECTIONS].values()))
        # A run spans every client: only finance:all sees them, as in the API.
        runs = [run_view(r) for r in await conn.fetch(_LAST_RUNS)] if client is None else None
    breakers = {name: c.breaker.state for name, c in sorted(request.app[VENDORS].items())}
    return render(
        request,
        "today.html",
        day=day,
        counts=counts,
        ages=ages,
        lags=lags,
        breakers=breakers,
        runs=runs,
    )
