"""The floor under order intake, for bench/intake.py: the least a service keeping intake's
promises must do per request, written with none of the ledger (no event log, lease, fold,
hash chain, card vault or read model), so that what the ledger adds can be told from what the
promises cost on this machine.

A new order: decode the body with the service's schema and parse its amount; write it ahead
together with its attempt (one statement: the key is unique, so a retry finds it); POST it to
the vendor (the same sandbox, the same wire types, one pooled aiohttp session); record the
answer with its card (one statement); answer 201. A replay: the write-ahead finds the key (one
statement); record the replay and read the answer on record (one statement); answer 200, or
409 while the first request has no answer. Two round trips each, against the baseline's one;
no transaction spans the vendor call. What it leaves out beyond the ledger: a write-ahead
whose vendor call died is never sent again (the service's completer does that).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import msgspec
from aiohttp import web

from ledger.db import create_pool
from ledger.http.schemas import CreateOrder
from ledger.money import parse_amount
from ledger.vendors.rest import WireCreateOrder, WireOrder

TABLES = """
CREATE TABLE IF NOT EXISTS floor_requests (
    idempotency_key text PRIMARY KEY,
    customer_id text NOT NULL,
    brand_id text NOT NULL,
    amount_minor bigint NOT NULL,
    currency text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS floor_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS floor_answers (
    idempotency_key text PRIMARY KEY,
    vendor_order_id text NOT NULL,
    status text NOT NULL,
    card_code text,
    answered_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS floor_replays (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text NOT NULL,
    replayed_at timestamptz NOT NULL DEFAULT now());"""

# The request and its attempt, or nothing when the key is on record (then it is a replay).
WRITE_AHEAD = """
    WITH request AS (
        INSERT INTO floor_requests (idempotency_key, customer_id, brand_id, amount_minor, currency)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING idempotency_key)
    INSERT INTO floor_attempts (idempotency_key) SELECT idempotency_key FROM request
    RETURNING id"""
RECORD_ANSWER = """INSERT INTO floor_answers (idempotency_key, vendor_order_id, status, card_code)
    VALUES ($1, $2, $3, $4)"""
REPLAY = """
    WITH replay AS (INSERT INTO floor_replays (idempotency_key) VALUES ($1))
    SELECT vendor_order_id, status, card_code FROM floor_answers WHERE idempotency_key = $1"""

_POOL = web.AppKey("floor_pool", asyncpg.Pool)
_VENDOR = web.AppKey("floor_vendor", aiohttp.ClientSession)
_decoder = msgspec.json.Decoder(CreateOrder)
_vendor_decoder = msgspec.json.Decoder(WireOrder)
_encoder = msgspec.json.Encoder()


def floor_app(dsn: str, vendor_url: str, max_minor: int) -> web.Application:
    """POST /orders as described above, against the sandbox at vendor_url; amounts bounded as
    the service bounds them."""

    async def resources(app: web.Application) -> AsyncIterator[None]:
        app[_POOL] = await create_pool(dsn)  # the service's pool size
        await app[_POOL].execute(TABLES)
        app[_VENDOR] = aiohttp.ClientSession(vendor_url)
        yield
        await app[_VENDOR].close()
        await app[_POOL].close()

    async def create(request: web.Request) -> web.Response:
        body = _decoder.decode(await request.read())
        key, pool = body.idempotency_key, request.app[_POOL]
        if not key:
            return _json(400, {"error": "idempotency_key is required"})
        amount_minor = parse_amount(bytes(body.amount), body.currency, max_minor=max_minor)
        written = await pool.fetchval(
            WRITE_AHEAD, key, body.customer_id, body.brand_id, amount_minor, body.currency
        )
        if written is None:
            row = await pool.fetchrow(REPLAY, key)
            if row is None:  # the first request is still at the vendor, or died there
                return _json(409, {"error": "the first request with this key has no answer yet"})
            answer = {"id": row["vendor_order_id"], "status": row["status"]}
            return _json(200, answer | {"card": row["card_code"]})
        wire = WireCreateOrder(key, amount_minor, body.currency, body.brand_id, body.customer_id)
        async with request.app[_VENDOR].post(
            "/v1/orders", data=_encoder.encode(wire), headers={"Idempotency-Key": key}
        ) as sent:
            if sent.status not in (200, 201):  # no answer, and no completer here to ask again
                return _json(502, {"error": f"the vendor answered {sent.status}"})
            order = _vendor_decoder.decode(await sent.read())
        code = order.card.code if order.card else None
        await pool.execute(RECORD_ANSWER, key, order.id, order.status, code)
        return _json(201, {"id": order.id, "status": order.status, "card": code})

    app = web.Application()
    app.cleanup_ctx.append(resources)
    app.router.add_post("/orders", create)
    return app


def _json(status: int, answer: dict[str, str | None]) -> web.Response:
    body = _encoder.encode(answer)
    return web.Response(status=status, body=body, content_type="application/json")
