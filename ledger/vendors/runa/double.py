"""A Runa double: API v2's order routes on the sandbox's store, faults and /_admin
(`python run.py sandbox --dialect runa`; base_url `http://host:port/v2`).

It keeps Runa's edges: `X-Api-Key`, a required `X-Idempotency-Key` whose first answer is
replayed (a different body under it is 400 `idempotency_validation_error`), errors by `type`,
money as decimal text, a listing with cursors and no date filter that leaves items out, and
order.completion webhooks sent by Svix (the order itself, under svix-* headers).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from aiohttp import web

from ledger.money import MoneyError, format_minor, parse_amount
from ledger.vendors.rest import WireCreateOrder, WireOrder
from ledger.vendors.runa import wire
from ledger.vendors.runa.records import REFERENCE_KEY
from ledger.vendors.sandbox.faults import mark_created
from ledger.vendors.sandbox.store import Conflict, NotFound, SandboxStore
from ledger.vendors.sandbox.webhooks import StandardAnnouncer

PREFIX = "/v2/"
# Products with this prefix do not exist, as the sandbox's brands.
UNKNOWN_PRODUCT_PREFIX = "invalid"
# Runa documents no refund status: a refunded order still shows COMPLETED.
_STATUSES = {
    "fulfilled": "COMPLETED",
    "pending": "PROCESSING",
    "failed": "FAILED",
    "refunded": "COMPLETED",
}


AUTH_HEADER = "X-Api-Key"


def authorization(api_key: str) -> str:
    return api_key


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"type": kind, "message": message, "help": ""}, status=status)


def unauthorized() -> web.Response:
    return _error(401, "invalid_api_key", "missing or wrong X-Api-Key")


def runa_order(order: WireOrder, *, full: bool = True) -> dict[str, object]:
    view: dict[str, object] = {
        "id": order.id,
        "status": _STATUSES[order.status],
        "created_at": order.created_at,
        "currency": order.currency,
    }
    if full:
        view["metadata"] = {REFERENCE_KEY: order.reference}
    if full and order.status != "pending":  # a PROCESSING order's body is partial
        face = Decimal(format_minor(order.amount_minor, order.currency))
        payout = {"url": order.card.url if order.card else None, "status": "ACTIVE"}
        view["items"] = [{"face_value": str(face), "currency": order.currency, "payout": payout}]
    return view


def _json(status: int, payload: object) -> web.Response:
    return web.Response(
        status=status, body=wire.encoder.encode(payload), content_type="application/json"
    )


class _RunaApi:
    def __init__(self, store: SandboxStore) -> None:
        self.store = store

    async def create(self, request: web.Request) -> web.Response:
        key = request.headers.get("X-Idempotency-Key", "")
        if not key:
            return _error(400, "bad_request", "X-Idempotency-Key is required")
        try:
            asked = wire.request_decoder.decode(await request.read())
            (item,) = asked.items
            currency = asked.payment_method.currency
            minor = parse_amount(str(item.face_value), currency, max_minor=10**9)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, MoneyError) as exc:
            return _error(422, "validation_error", str(exc))
        if item.products.value.startswith(UNKNOWN_PRODUCT_PREFIX):
            return _error(422, "validation_error", f"no product {item.products.value}")
        reference = asked.metadata.get(REFERENCE_KEY, key)
        body = WireCreateOrder(reference, minor, currency, item.products.value, "runa")
        try:
            order, replayed = self.store.create(key, body)
        except Conflict:
            return _error(400, "idempotency_validation_error", "key used with another body")
        return (
            _json(200, runa_order(order))
            if replayed
            else mark_created(_json(201, runa_order(order)))
        )

    async def get(self, request: web.Request) -> web.Response:
        try:
            return _json(200, runa_order(self.store.get(request.match_info["order_id"])))
        except NotFound:
            return _error(404, "not_found", "no such order")

    async def list(self, request: web.Request) -> web.Response:
        """Every order, oldest first, `after` the id given; listings leave items and metadata
        out, as Runa's subset does."""
        ordered = self.store.all_orders()
        after = request.query.get("after")
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return _error(400, "pagination_error", "limit is an integer")
        ids = [o.id for o in ordered]
        start = ids.index(after) + 1 if after in ids else 0
        page = ordered[start : start + limit]
        cursors = {"after": page[-1].id} if page else {}
        items = [runa_order(o, full=False) for o in page]
        return _json(
            200, {"items": items, "pagination": {"cursors": cursors, "page": {"limit": limit}}}
        )


def register(router: web.UrlDispatcher, store: SandboxStore, _list_cap: int = 0) -> None:
    api = _RunaApi(store)
    router.add_post("/v2/order", api.create)
    router.add_get("/v2/order", api.list)
    router.add_get("/v2/order/{order_id}", api.get)


class RunaAnnouncer(StandardAnnouncer):
    """order.completion as Svix sends Runa's: the order itself, under svix-* headers."""

    def body(self, order: WireOrder, event_id: str) -> bytes:
        return wire.encoder.encode(runa_order(order))

    def headers(self, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        standard = super().headers(event_id, timestamp, body)
        return {name.replace("webhook-", "svix-"): value for name, value in standard.items()}

    def forge(self, body: bytes) -> bytes:
        order = msgspec.json.decode(body)
        order["status"] = "FAILED"
        return msgspec.json.encode(order)
