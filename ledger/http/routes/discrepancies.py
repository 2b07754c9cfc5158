"""POST /api/v1/discrepancies/{id}/resolve: a person's decision, recorded as events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import msgspec
from aiohttp import web
from msgspec import Meta

from ledger.auth import Principal
from ledger.http.auth import authorize
from ledger.http.keys import POOL, REQUEST_ID
from ledger.http.problems import Problem, decode_body
from ledger.log import store
from ledger.log.leases import LeaseKind
from ledger.orders.identifiers import PROSE
from ledger.reconciliation.resolutions import Action, ResolutionRefused, decide_resolution

routes = web.RouteTableDef()


class Resolve(msgspec.Struct, forbid_unknown_fields=True):
    action: Action
    # Auditors read it later: say what was checked and with whom.
    note: Annotated[str, Meta(min_length=3, max_length=2000)]


_decoder = msgspec.json.Decoder(Resolve)
RESOLVE_LOCK = int(LeaseKind.RESOLUTION)
_RESOLUTIONS = """
    SELECT count(*) FROM events
    WHERE stream_id = ANY($1::text[]) AND type = 'DiscrepancyResolved'
      AND convert_from(data, 'UTF8')::jsonb ->> 'discrepancy_id' = $2"""


async def resolve_discrepancy(
    pool: asyncpg.Pool,
    discrepancy_id: str,
    action: Action,
    note: str,
    principal: Principal,
    request_id: str,
) -> None:
    """Record a person's decision on a discrepancy (the API's and the console's one command);
    Problem when there is no such discrepancy or the decision is refused."""
    if not PROSE.match(note):
        raise Problem(422, "invalid_note", "note: control characters are refused", field="note")
    row = await pool.fetchrow("SELECT * FROM discrepancies WHERE id = $1", discrepancy_id)
    if row is None:
        raise Problem(404, "discrepancy_not_found", "no such discrepancy", field="discrepancy_id")
    try:
        events = decide_resolution(
            discrepancy_id=row["id"],
            kind=row["kind"],
            state=row["state"],
            vendor_status=row["vendor_status"],
            amount_minor=row["our_amount_minor"],
            action=action,
            note=note,
            actor=f"{principal.client_id}/{principal.key_id}",
            now=datetime.now(UTC),
        )
    except ResolutionRefused as exc:
        raise Problem(exc.status, exc.code, exc.detail, field="action") from None
    # A finding about one of our orders is resolved on the order's stream, beside its correction;
    # one about a record nobody ordered on a stream of its own. It went on the run's, which the
    # run appends to at strict versions: resolving it while its run recorded pages stopped the run.
    stream_id = row["stream_id"] or f"discrepancy:{row['id']}"
    streams = [stream_id]
    if row["stream_id"] is None:  # where such resolutions went before: the guard counts them
        streams.append(f"reconciliation:{row['first_seen_run']}")
    metadata = {"request_id": request_id, "actor": principal.key_id}
    async with pool.acquire() as conn, conn.transaction():
        # Serialise resolutions of one discrepancy; the projection may not show the last one
        # yet, so the log itself is checked: a correction must never be appended twice. The
        # row counts the resolutions it shows (a finding can be resolved, reopened by a later
        # run, and resolved again); one more in the log is one this request has not seen.
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", RESOLVE_LOCK, row["id"]
        )
        # A live table of the older shape (until the upgrade's rebuild swaps in) has no count:
        # there, any resolution in the log refuses, as it did then.
        shown = row.get("resolutions", 0)
        if await conn.fetchval(_RESOLUTIONS, streams, row["id"]) > shown:
            raise Problem(409, "already_resolved", f"{row['id']} is already resolved")
        await store.append_observed(conn, stream_id, events, metadata=metadata)


@routes.post("/api/v1/discrepancies/{discrepancy_id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    principal = await authorize(request, "admin")
    body = decode_body(_decoder, await request.read())
    discrepancy_id = request.match_info["discrepancy_id"]
    await resolve_discrepancy(
        request.app[POOL], discrepancy_id, body.action, body.note, principal, request[REQUEST_ID]
    )
    return web.json_response({"id": discrepancy_id, "state": "resolved", "action": body.action})
