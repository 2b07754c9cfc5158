"""API key management over HTTP (scope admin): list, create, revoke, rotate with an overlap.

The plaintext of a key is in the answer that creates it and nowhere else, ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import asyncpg
import msgspec
from aiohttp import web
from msgspec import Meta

from ledger.auth import (
    CLIENT_ID_RULE,
    SCOPES,
    KeyInfo,
    RotationRefused,
    create_key,
    list_keys,
    revoke_key,
)
from ledger.auth import rotate_key as rotate
from ledger.http.auth import KEY_CACHE, authorize
from ledger.http.keys import POOL
from ledger.http.problems import Problem, decode_body
from ledger.orders.identifiers import Identifier

routes = web.RouteTableDef()
# A rotation's old key keeps working this long unless asked otherwise: a day lets every
# deployment of the caller pick the new key up; a month is the longest a leaked key may live on.
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP_S = 30 * 24 * 3600
_encoder = msgspec.json.Encoder()


class CreateApiKey(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Identifier
    scopes: Annotated[list[str], Meta(min_length=1, description=f"from {', '.join(SCOPES)}")]
    client_id: Annotated[str, Meta(description=CLIENT_ID_RULE)] | None = None
    expires_at: Annotated[datetime, Meta(tz=True)] | None = None


class RotateApiKey(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    overlap_s: Annotated[int, Meta(ge=0, le=MAX_OVERLAP_S)] = int(DEFAULT_OVERLAP.total_seconds())


class CreatedApiKey(msgspec.Struct, kw_only=True):
    key: KeyInfo
    api_key: str  # shown once: only its hash is kept
    replaces: KeyInfo | None = None


_create_decoder = msgspec.json.Decoder(CreateApiKey)
_rotate_decoder = msgspec.json.Decoder(RotateApiKey)


def _json(status: int, body: object) -> web.Response:
    return web.Response(status=status, body=_encoder.encode(body), content_type="application/json")


@routes.get("/api/v1/api-keys")
async def list_api_keys(request: web.Request) -> web.Response:
    await authorize(request, "admin")
    async with request.app[POOL].acquire() as conn:
        return _json(200, {"items": await list_keys(conn)})


@routes.post("/api/v1/api-keys")
async def create_api_key(request: web.Request) -> web.Response:
    await authorize(request, "admin")
    body = decode_body(_create_decoder, await request.read())
    async with request.app[POOL].acquire() as conn:
        try:
            principal, plaintext = await create_key(
                conn,
                name=body.name,
                scopes=body.scopes,
                client_id=body.client_id,
                expires_at=body.expires_at,
            )
        except ValueError as exc:
            field = "scopes" if "scope" in str(exc) else "client_id"
            raise Problem(422, "invalid_field", str(exc), field=field) from None
        except asyncpg.CheckViolationError:  # expires_at > created_at
            detail = "expires_at must be in the future"
            raise Problem(422, "invalid_field", detail, field="expires_at") from None
        info = {k.key_id: k for k in await list_keys(conn)}[principal.key_id]
    return _json(201, CreatedApiKey(key=info, api_key=plaintext))


@routes.delete("/api/v1/api-keys/{key_id}")
async def revoke_api_key(request: web.Request) -> web.Response:
    await authorize(request, "admin")
    async with request.app[POOL].acquire() as conn:
        if await revoke_key(conn, request.match_info["key_id"]) is None:
            raise Problem(404, "api_key_not_found", "no API key with this id", field="key_id")
    request.app[KEY_CACHE].forget(request.match_info["key_id"])
    return web.Response(status=204)


@routes.post("/api/v1/api-keys/{key_id}/rotate")
async def rotate_api_key(request: web.Request) -> web.Response:
    await authorize(request, "admin")
    body = decode_body(_rotate_decoder, await request.read() or b"{}")
    async with request.app[POOL].acquire() as conn:
        try:
            new, plaintext, old = await rotate(
                conn, request.match_info["key_id"], timedelta(seconds=body.overlap_s)
            )
        except RotationRefused as exc:
            raise Problem(409, "rotation_refused", str(exc), field="key_id") from None
    # The old key now expires at the overlap's end: read it again to learn when.
    request.app[KEY_CACHE].forget(request.match_info["key_id"])
    return _json(201, CreatedApiKey(key=new, api_key=plaintext, replaces=old))
