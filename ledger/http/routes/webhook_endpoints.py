"""A merchant's outgoing webhook endpoints (scope orders:write): create, list, read, change,
delete, rotate the secret, recover. Each change is an event (ledger/webhooks/endpoints.py).

An endpoint belongs to the caller's client; another client's is a 404, never a 403, so ids
reveal nothing. The signing secret is in the answer that makes it and nowhere else in clear.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from ledger.auth import Principal
from ledger.config import Settings
from ledger.http import params
from ledger.http.auth import authorize
from ledger.http.keys import POOL, REQUEST_ID, SETTINGS, VAULT
from ledger.http.problems import Problem, decode_body
from ledger.http.routes.endpoint_scopes import checked_events, finance_scope, sent_to
from ledger.log import events as ev
from ledger.orders.identifiers import PROSE_PATTERN
from ledger.webhooks import endpoints, replay
from ledger.webhooks.egress import MAX_URL_LENGTH, RefusedTarget, check_url
from ledger.webhooks.endpoints import EVENT_TYPES, Endpoint

routes = web.RouteTableDef()
EventType = Literal[
    "order.pending",
    "order.fulfilled",
    "order.failed",
    "order.refunded",
    "discrepancy.opened",
    "discrepancy.resolved",
    "reconciliation.completed",
]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]
Url = Annotated[str, Meta(max_length=MAX_URL_LENGTH, examples=["https://hooks.example.com/gc"])]
Events = Annotated[
    list[EventType],
    Meta(min_length=1, description="Omitted: every type this key may receive"),
]
Description = Annotated[str, Meta(max_length=500, pattern=PROSE_PATTERN)]
# The longest a rotated-out secret may keep signing: a week covers any deployment cycle.
MAX_OVERLAP_S = 7 * 86400
# Standard Webhooks secrets carry 24 to 64 random bytes; 32 is the HMAC-SHA256 block's half.
SECRET_BYTES = 32
_encoder = msgspec.json.Encoder()


class CreateWebhookEndpoint(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Url
    events: Events | None = None
    description: Description = ""


class UpdateWebhookEndpoint(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    disabled: bool | None = None


class RotateWebhookSecret(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    expire_previous_in_s: Annotated[int, Meta(ge=0, le=MAX_OVERLAP_S)] | None = None


class RecoverWebhookEvents(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    since: Annotated[datetime, Meta(tz=True)]


class WebhookEndpointPage(msgspec.Struct):
    items: list[Endpoint]
    next: str | None


class CreatedWebhookEndpoint(msgspec.Struct):
    endpoint: Endpoint
    secret: str  # shown once: only its encryption is kept


class RotatedWebhookSecret(msgspec.Struct):
    secret: str
    previous_expires_at: datetime


class Requeued(msgspec.Struct):
    requeued: int
    # Disabled endpoints keep what was re-queued until they are enabled again.
    endpoint_disabled: bool = False


_decoders = {
    t: msgspec.json.Decoder(t)
    for t in (CreateWebhookEndpoint, UpdateWebhookEndpoint, RotateWebhookSecret)
}
_recover_decoder = msgspec.json.Decoder(RecoverWebhookEvents)


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=_encoder.encode(body), content_type="application/json", headers=headers
    )


def _new_secret() -> tuple[str, str]:
    """(secret id, whsec_ secret), both random: made here, at the edge."""
    raw = base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    return f"ws_{secrets.token_hex(8)}", f"whsec_{raw}"


def _checked_url(url: str, settings: Settings) -> str:
    try:
        return check_url(url, settings.webhook_allow_private)
    except RefusedTarget as exc:
        raise Problem(422, "invalid_url", f"url {exc}", field="url") from None


def _meta(request: web.Request, principal: Principal) -> dict[str, object]:
    return {"request_id": request[REQUEST_ID], "actor": f"key:{principal.key_id}"}


async def _own(request: web.Request, principal: Principal, *, changing: bool = False) -> Endpoint:
    """The client's endpoint; to change it, the key must also see all it may be sent (its
    maker's finance scope), or a weaker key of the client could send findings elsewhere."""
    found = await endpoints.find(
        request.app[POOL], principal.client_id, request.match_info["endpoint_id"]
    )
    if found is None:
        raise Problem(404, "endpoint_not_found", "no such webhook endpoint", field="endpoint_id")
    if changing and not endpoints.covers(finance_scope(principal), found.finance_scope):
        scope = "finance:all" if found.finance_scope == "all" else "finance:read"
        raise Problem(
            403,
            "insufficient_scope",
            f"this endpoint receives finance events: changing it needs a key with {scope}",
            field="endpoint_id",
            extra={"required_scope": scope},
        )
    return found


async def _body(request: web.Request, decoder: msgspec.json.Decoder, *, optional: bool = False):
    """The decoded body; an optional one may be left out altogether."""
    raw = await request.read()
    return decode_body(decoder, b"{}" if optional and not raw else raw)


@routes.post("/api/v1/webhook-endpoints")
async def create_endpoint(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    body = await _body(request, _decoders[CreateWebhookEndpoint])
    settings = request.app[SETTINGS]
    secret_id, secret = _new_secret()
    created = ev.WebhookEndpointCreated(
        endpoint_id=f"we_{secrets.token_hex(12)}",
        client_id=principal.client_id,
        url=_checked_url(body.url, settings),
        events=checked_events(body.events, principal),
        description=body.description,
        secret_id=secret_id,
        created_at=datetime.now(UTC),
        finance_scope=finance_scope(principal),
        actor=f"key:{principal.key_id}",
    )
    async with request.app[POOL].acquire() as conn:
        endpoint = await endpoints.create(
            conn, request.app[VAULT], created, secret, _meta(request, principal)
        )
    location = {"Location": f"/api/v1/webhook-endpoints/{endpoint.id}"}
    return _json(201, CreatedWebhookEndpoint(endpoint, secret), location)


@routes.get("/api/v1/webhook-endpoints")
async def list_endpoints(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    limit = params.limit(request.query)
    after = params.decode_cursor(request.query, tuple[str])
    found = await endpoints.listed(
        request.app[POOL], principal.client_id, after[0] if after else None, limit + 1
    )
    following = params.encode_cursor([found[limit - 1].id]) if len(found) > limit else None
    return _json(200, WebhookEndpointPage(found[:limit], following))


@routes.get("/api/v1/webhook-endpoints/{endpoint_id}")
async def get_endpoint(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    return _json(200, await _own(request, principal))


@routes.patch("/api/v1/webhook-endpoints/{endpoint_id}")
async def update_endpoint(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    endpoint = await _own(request, principal, changing=True)
    body = await _body(request, _decoders[UpdateWebhookEndpoint])
    if body == UpdateWebhookEndpoint():
        raise Problem(
            422, "nothing_to_change", "send url, events, description or disabled", field="body"
        )
    events = None
    if body.events is not None:
        events = sent_to(endpoint, checked_events(body.events, principal))
    updated = ev.WebhookEndpointUpdated(
        updated_at=datetime.now(UTC),
        actor=f"key:{principal.key_id}",
        url=None if body.url is None else _checked_url(body.url, request.app[SETTINGS]),
        events=events,
        description=body.description,
        disabled=body.disabled,
    )
    async with request.app[POOL].acquire() as conn:
        changed = await endpoints.update(conn, endpoint.id, updated, _meta(request, principal))
    return _json(200, changed)


@routes.delete("/api/v1/webhook-endpoints/{endpoint_id}")
async def delete_endpoint(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    endpoint = await _own(request, principal, changing=True)
    deleted = ev.WebhookEndpointDeleted(
        deleted_at=datetime.now(UTC), actor=f"key:{principal.key_id}"
    )
    async with request.app[POOL].acquire() as conn:
        await endpoints.delete(conn, endpoint.id, deleted, _meta(request, principal))
    return web.Response(status=204)


@routes.post("/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret")
async def rotate_secret(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    endpoint = await _own(request, principal, changing=True)
    body = await _body(request, _decoders[RotateWebhookSecret], optional=True)
    overlap_s = body.expire_previous_in_s
    if overlap_s is None:
        overlap_s = request.app[SETTINGS].webhook_secret_overlap_s
    now = datetime.now(UTC)
    secret_id, secret = _new_secret()
    async with request.app[POOL].acquire() as conn:
        previous = await conn.fetchval(
            "SELECT secret_id FROM webhook_secrets WHERE endpoint_id = $1"
            " ORDER BY created_at DESC LIMIT 1",
            endpoint.id,
        )
        rotated = ev.WebhookSecretRotated(
            secret_id=secret_id,
            previous_secret_id=previous,
            previous_expires_at=now + timedelta(seconds=overlap_s),
            rotated_at=now,
            actor=f"key:{principal.key_id}",
        )
        await endpoints.rotate(
            conn, request.app[VAULT], endpoint.id, rotated, secret, _meta(request, principal)
        )
    return _json(200, RotatedWebhookSecret(secret, rotated.previous_expires_at))


@routes.post("/api/v1/webhook-endpoints/{endpoint_id}/recover")
async def recover(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    endpoint = await _own(request, principal, changing=True)
    body = await _body(request, _recover_decoder)
    actor = f"key:{principal.key_id}"
    async with request.app[POOL].acquire() as conn:
        count = await replay.recover(
            conn, endpoint, body.since, datetime.now(UTC), actor, _meta(request, principal)
        )
    return _json(202, Requeued(count, endpoint.disabled))
