"""Order routes: thin handlers over ledger.orders.intake; bad input becomes a precise 4xx."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec
from aiohttp import web

from ledger.http.auth import authorize
from ledger.http.keys import INTAKE, POOL, REQUEST_ID, ROUTER, SETTINGS, VAULT
from ledger.http.problems import Problem, decode_body
from ledger.http.schemas import CreateOrder, OrderEvents, RecordedEventView
from ledger.log import store
from ledger.money import MoneyError, parse_amount
from ledger.orders.decisions import SubmitOrder
from ledger.orders.identifiers import IDEMPOTENCY_KEY_RULE, is_idempotency_key
from ledger.orders.model import OrderState, fold, order_stream, shows_card
from ledger.orders.view import Card, Order, order_view
from ledger.vendors.base import CardSecret
from ledger.vendors.routing import NoVendorSells

routes = web.RouteTableDef()
_create_decoder = msgspec.json.Decoder(CreateOrder)
_encoder = msgspec.json.Encoder()
# A client retrying a 409 should wait about as long as one vendor attempt takes.
RETRY_AFTER_IN_FLIGHT_S = "1"


def idempotency_key(headers: Mapping[str, str], body_key: str | None) -> str:
    header = headers.get("Idempotency-Key")
    # The header is a structured-field string, sent quoted; a bare token is accepted too.
    if header is not None and len(header) >= 2 and header[0] == header[-1] == '"':
        header = header[1:-1]
    if header is not None and body_key is not None and header != body_key:
        raise Problem(
            400,
            "idempotency_key_mismatch",
            "the Idempotency-Key header and the body's idempotency_key differ",
            field="idempotency_key",
        )
    key = header if header is not None else body_key
    if key is None:
        raise Problem(
            400,
            "missing_idempotency_key",
            "send an Idempotency-Key header or an idempotency_key field",
            field="idempotency_key",
        )
    if not is_idempotency_key(key):
        # Name where the caller sent it: the header, or the body's field.
        field = "Idempotency-Key" if header is not None else "idempotency_key"
        raise Problem(400, "invalid_idempotency_key", IDEMPOTENCY_KEY_RULE, field=field)
    return key


def parse_create(
    raw: bytes,
    headers: Mapping[str, str],
    client_id: str,
    route: Callable[[str], str],
    max_minor: int,
) -> SubmitOrder:
    """The order as sent, with the vendor `route` picks for its brand."""
    body = decode_body(_create_decoder, raw)
    key = idempotency_key(headers, body.idempotency_key)
    try:
        vendor = route(body.brand_id)
    except NoVendorSells as exc:
        raise Problem(422, "brand_not_sold", str(exc), field="brand_id") from None
    try:
        amount_minor = parse_amount(bytes(body.amount), body.currency, max_minor=max_minor)
    except MoneyError as exc:
        raise Problem(422, f"invalid_{exc.field}", exc.reason, field=exc.field) from None
    return SubmitOrder(
        client_id=client_id,
        idempotency_key=key,
        customer_id=body.customer_id,
        brand_id=body.brand_id,
        amount_minor=amount_minor,
        currency=body.currency,
        vendor=vendor,
    )


def card_view(secret: CardSecret | None) -> Card | None:
    return Card(code=secret.code, pin=secret.pin, url=secret.url) if secret else None


async def _view(request: web.Request, state: OrderState) -> Order:
    secret = None
    if shows_card(state):
        secret = await request.app[VAULT].load(request.app[POOL], state.stream_id)
    return order_view(state, card_view(secret))


def _json(status: int, body: msgspec.Struct, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=_encoder.encode(body), content_type="application/json", headers=headers
    )


@routes.post("/api/v1/orders")
async def create_order(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    if request.content_type not in ("application/json", "application/octet-stream"):
        raise Problem(
            415,
            "unsupported_media_type",
            "send the order as application/json",
            field="Content-Type",
        )
    settings = request.app[SETTINGS]
    cmd = parse_create(
        await request.read(),
        request.headers,
        principal.client_id,
        request.app[ROUTER].choose,
        settings.max_amount_minor,
    )
    metadata = {"request_id": request[REQUEST_ID], "actor": principal.key_id}
    result = await request.app[INTAKE].submit(cmd, metadata)
    if result.outcome == "mismatch":
        raise Problem(
            422,
            "idempotency_key_reused",
            "this idempotency key was used with a different payload",
            field="idempotency_key",
        )
    if result.outcome == "in_flight" or result.state is None:
        raise Problem(
            409,
            "idempotency_key_in_use",
            "a request with this idempotency key is still being processed",
            headers={"Retry-After": RETRY_AFTER_IN_FLIGHT_S},
        )
    card = result.card
    view = order_view(
        result.state, Card(code=card.code, pin=card.pin, url=card.url) if card else None
    )
    if result.outcome == "replay":
        return _json(200, view, {"Idempotent-Replayed": "true"})
    return _json(201 if view.status != "pending" else 202, view)


async def _load(request: web.Request, client_id: str) -> OrderState:
    stream_id = order_stream(client_id, request.match_info["idempotency_key"])
    pool = request.app[POOL]
    row = await pool.fetchrow(
        """SELECT v.*, (SELECT max(version) FROM events e WHERE e.stream_id = v.stream_id) AS head
           FROM orders_view v WHERE v.stream_id = $1""",
        stream_id,
    )
    # The projection may lag the log by a moment. A client that just got a 201 must not read
    # "pending" next, so a row behind its stream's head is replaced by a fold of the stream.
    if row is not None and row["version"] == row["head"]:
        state = OrderState(*tuple(row)[:-1])
    else:
        state = fold(await store.read_stream(pool, stream_id))
    # An order is only ever its client's: a stream from before the log checked owners, whose
    # order names another client, is not found rather than shown.
    if state is None or state.client_id != client_id:
        raise Problem(
            404, "order_not_found", "no order with this idempotency key", field="idempotency_key"
        )
    return state


@routes.get("/api/v1/orders/{idempotency_key}")
async def get_order(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    return _json(200, await _view(request, await _load(request, principal.client_id)))


@routes.get("/api/v1/orders/{idempotency_key}/events")
async def get_order_events(request: web.Request) -> web.Response:
    principal = await authorize(request, "orders:write")
    state = await _load(request, principal.client_id)
    recorded = await store.read_stream(request.app[POOL], state.stream_id)
    events = [
        RecordedEventView(
            e.position, e.version, e.type, e.recorded_at, msgspec.Raw(e.data), e.metadata
        )
        for e in recorded
    ]
    return _json(200, OrderEvents(idempotency_key=state.idempotency_key, events=events))
