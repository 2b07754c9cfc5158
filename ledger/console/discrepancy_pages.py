"""The discrepancy queue (scope finance:read, as GET /api/v1/discrepancies), one discrepancy
with its order's trail beside the vendor's record, and the resolve form (scope admin, as
POST /api/v1/discrepancies/{id}/resolve: the same command, resolve_discrepancy)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web

from ledger.console.guard import Refused, form_of, page, render
from ledger.console.sessions import Session
from ledger.console.trail import trail_of
from ledger.http import params
from ledger.http.keys import POOL, REQUEST_ID
from ledger.http.routes.discrepancies import resolve_discrepancy
from ledger.http.runtime.replica import read_pool
from ledger.money import format_minor
from projections.discrepancies import discrepancy_view
from projections.discrepancies.http import KINDS, STATES, discrepancy_page, visible_discrepancy

routes = web.RouteTableDef()
ACTIONS = {"acknowledge": "Acknowledge", "accept_vendor_status": "Accept the vendor's status"}
PAGE_SIZE = 50
# How long a resolution waits for the queue to show it: a projection at rest applies an event
# within its poll interval; past this the page says so and does not hold the request.
RESOLVE_WAIT_S, RESOLVE_POLL_S = 2.0, 0.05


def _amount(minor: int | None, currency: str | None) -> str:
    return format_minor(minor, currency) if minor is not None and currency else "-"


def _shown(row) -> dict:
    item = discrepancy_view(row)
    item["our_amount"] = _amount(row["our_amount_minor"], row["our_currency"])
    item["vendor_amount"] = _amount(row["vendor_amount_minor"], row["vendor_currency"])
    return item


@routes.get("/console/discrepancies")
@page("finance:read")
async def queue_page(request: web.Request, session: Session) -> web.Response:
    # The filters' "any" options post an empty value; no state at all is the open queue.
    query = {name: value for name, value in request.query.items() if value}
    state = params.choice(query, "state", STATES) if "state" in request.query else "open"
    kind = params.choice(query, "type", KINDS)
    after = params.decode_cursor(query, tuple[datetime, str])
    rows = await discrepancy_page(
        read_pool(request.app),
        state or None,
        kind,
        (None, None),
        after,
        PAGE_SIZE + 1,
        session.principal.finance_client,
    )
    shown = rows[:PAGE_SIZE]
    next_cursor = None
    if len(rows) > PAGE_SIZE:
        next_cursor = params.encode_cursor([shown[-1]["opened_at"], shown[-1]["id"]])
    return render(
        request,
        "discrepancies.html",
        items=[_shown(r) for r in shown],
        state=state or "",
        kind=kind or "",
        states=STATES,
        kinds=KINDS,
        next=next_cursor,
        resolved=query.get("resolved"),
    )


async def _visible(request: web.Request, session: Session):
    row = await visible_discrepancy(
        request.app[POOL], request.match_info["discrepancy_id"], session.principal.finance_client
    )
    if row is None:
        raise Refused(404, "Not found", "No discrepancy with this id.")
    return row


@routes.get("/console/discrepancies/{discrepancy_id}")
@page("finance:read")
async def discrepancy_page_view(request: web.Request, session: Session) -> web.Response:
    row = await _visible(request, session)
    trail = await trail_of(request.app[POOL], row["stream_id"]) if row["stream_id"] else []
    return render(
        request,
        "discrepancy.html",
        item=_shown(row),
        trail=trail,
        actions=ACTIONS,
        can_resolve=session.principal.allows("admin") and row["state"] == "open",
    )


@routes.post("/console/discrepancies/{discrepancy_id}/resolve")
@page("admin")
async def resolve(request: web.Request, session: Session) -> web.Response:
    form = await form_of(request, session)
    row = await _visible(request, session)
    action, note = form.get("action"), form.get("note", "").strip()
    if action not in ACTIONS:
        raise Refused(422, "Choose an action", "action: choose acknowledge or accept the vendor's")
    if not 3 <= len(note) <= 2000:
        raise Refused(422, "Add a note", "note: say what was checked, 3 to 2000 characters")
    pool = request.app[POOL]
    await resolve_discrepancy(pool, row["id"], action, note, session.principal, request[REQUEST_ID])
    # The queue is the projection's, a moment behind the log: wait (briefly) until it shows the
    # decision, so the page the person lands on agrees with what they just did.
    for _ in range(round(RESOLVE_WAIT_S / RESOLVE_POLL_S)):
        if (
            await pool.fetchval("SELECT state FROM discrepancies WHERE id = $1", row["id"])
            != "open"
        ):
            break
        await asyncio.sleep(RESOLVE_POLL_S)
    raise web.HTTPSeeOther(f"/console/discrepancies?resolved={row['id']}")
