"""The announcements a client's endpoints were sent, with every attempt, and a resend of any of
them, however old (scope orders:write)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from aiohttp import web
from msgspec import Meta

from ledger.http import params
from ledger.http.auth import authorize
from ledger.http.keys import POOL, REQUEST_ID
from ledger.http.problems import Problem, decode_body
from ledger.http.routes.endpoint_scopes import finance_scope
from ledger.http.routes.webhook_endpoints import Requeued
from ledger.webhooks import history, replay
from ledger.webhooks.history import WebhookEventView

routes = web.RouteTableDef()
_encoder = msgspec.json.Encoder()


class ResendWebhookEvent(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    endpoint_id: (
        Annotated[str, Meta(description="Only to this endpoint (default: every one that had it)")]
        | None
    ) = None


class WebhookEventPage(msgspec.Struct):
    items: list[WebhookEventView]
    next: str | None


_resend_decoder = msgspec.json.Decoder(ResendWebhookEvent)


def _json(status: int, body: object) -> web.Response:
    return web.Response(status=status, body=_encoder.encode(body), content_type="application/json")


@routes.get("/api/v1/webhook-events")
async def list_webhook_events(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    query = request.query
    status = params.choice(query, "status", ("pending", "delivered", "failed"))
    limit = params.limit(query)
    after = params.decode_cursor(query, tuple[datetime, str])
    items, following = await history.page(
        request.app[POOL],
        principal.client_id,
        finance_scope(principal),
        endpoint_id=query.get("endpoint"),
        status=status,  # type: ignore[arg-type]
        after=after,  # type: ignore[arg-type]
        limit=limit,
    )
    cursor = params.encode_cursor(list(following)) if following else None
    return _json(200, WebhookEventPage(items, cursor))


@routes.post("/api/v1/webhook-events/{event_id}/resend")
async def resend(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    event_id = request.match_info["event_id"]
    raw = await request.read()
    body = decode_body(_resend_decoder, raw or b"{}")
    pool = request.app[POOL]
    scope = finance_scope(principal)
    had = await history.endpoints_that_had(pool, principal.client_id, scope, event_id)
    if not had:
        raise Problem(
            404, "event_not_found", "no webhook event with this id was sent here", field="event_id"
        )
    if body.endpoint_id is not None:
        if body.endpoint_id not in had:
            raise Problem(
                404,
                "endpoint_not_found",
                "none of your endpoints with this id had this event",
                field="endpoint_id",
            )
        had = [body.endpoint_id]
    meta = {"request_id": request[REQUEST_ID], "actor": f"key:{principal.key_id}"}
    async with pool.acquire() as conn:
        count = await replay.resend(conn, had, event_id, datetime.now(UTC), meta["actor"], meta)
        disabled = await conn.fetchval(
            "SELECT bool_or(disabled) FROM webhook_endpoints WHERE id = ANY($1::text[])", had
        )
    return _json(202, Requeued(count, bool(disabled)))
