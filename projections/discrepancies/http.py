"""Finance read routes over the projections (scope finance:read)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
from aiohttp import web

from ledger.http import params
from ledger.http.auth import authorize
from ledger.http.problems import Problem
from ledger.http.runtime.replica import read_pool
from projections.discrepancies.matching import KINDS
from projections.discrepancies.views import discrepancy_view, run_view

routes = web.RouteTableDef()
STATES = ("open", "auto_resolved", "resolved")
_encoder = msgspec.json.Encoder()


def _json(body: object) -> web.Response:
    return web.Response(body=_encoder.encode(body), content_type="application/json")


async def discrepancy_page(
    db: asyncpg.Pool | asyncpg.Connection,
    state: str | None,
    kind: str | None,
    opened: tuple[datetime | None, datetime | None],
    after: tuple[datetime, str] | None,
    limit: int,
    client: str | None,
) -> list[asyncpg.Record]:
    """One keyset page of discrepancies in (opened_at, id) order: the API's and the console's."""
    return await db.fetch(
        """SELECT * FROM discrepancies
           WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2)
             AND ($3::timestamptz IS NULL OR opened_at >= $3)
             AND ($4::timestamptz IS NULL OR opened_at < $4)
             AND ($5::timestamptz IS NULL OR (opened_at, id) > ($5, $6))
             AND ($8::text IS NULL OR client_id = $8)
           ORDER BY opened_at, id LIMIT $7""",
        state,
        kind,
        opened[0],
        opened[1],
        after[0] if after else None,
        after[1] if after else None,
        limit,
        client,
    )


async def visible_discrepancy(
    db: asyncpg.Pool | asyncpg.Connection, discrepancy_id: str, client: str | None
) -> asyncpg.Record | None:
    """The discrepancy, if a key seeing `client`'s findings (None: every client's) may see it;
    another client's is None, as one that does not exist."""
    row = await db.fetchrow("SELECT * FROM discrepancies WHERE id = $1", discrepancy_id)
    if row is None or (client is not None and row["client_id"] != client):
        return None
    return row


@routes.get("/api/v1/discrepancies/{discrepancy_id}")
async def get_discrepancy(request: web.Request) -> web.Response:
    principal = await authorize(request, "finance:read")
    row = await visible_discrepancy(
        read_pool(request.app), request.match_info["discrepancy_id"], principal.finance_client
    )
    if row is None:
        raise Problem(404, "discrepancy_not_found", "no such discrepancy", field="discrepancy_id")
    return _json(discrepancy_view(row))


@routes.get("/api/v1/discrepancies")
async def list_discrepancies(request: web.Request) -> web.Response:
    principal = await authorize(request, "finance:read")
    query = request.query
    state = params.choice(query, "state", STATES)
    kind = params.choice(query, "type", KINDS)
    start, end = params.window(query)
    limit = params.limit(query)
    after = params.decode_cursor(query, tuple[datetime, str])
    rows = await discrepancy_page(
        read_pool(request.app),
        state,
        kind,
        (start, end),
        after,
        limit + 1,
        principal.finance_client,
    )
    page = rows[:limit]
    items = [discrepancy_view(r) for r in page]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = params.encode_cursor([page[-1]["opened_at"], page[-1]["id"]])
    return _json({"items": items, "next": next_cursor})


@routes.get("/api/v1/reconciliations/{run_id}")
async def get_run(request: web.Request) -> web.Response:
    await authorize(request, "finance:all")  # a run is vendor-wide: every client's orders
    row = await read_pool(request.app).fetchrow(
        "SELECT * FROM reconciliation_runs WHERE run_id = $1", request.match_info["run_id"]
    )
    if row is None:
        raise Problem(404, "run_not_found", "no reconciliation run with this id", field="run_id")
    return _json(run_view(row))
