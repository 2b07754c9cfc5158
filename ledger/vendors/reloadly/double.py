"""A Reloadly double: the gift card API's order, report and card routes under `/giftcards`
and its token endpoint at `/oauth/token`, on the sandbox's store, faults and /_admin
(`python run.py sandbox --dialect reloadly`; base_url `http://host:port/giftcards`, auth_url
`http://host:port/oauth/token`).

It keeps Reloadly's edges: every request needs a live token (any client id and secret get
one; `POST /_admin/tokens/expire` ends them all, as an expiry would), a new order answers
200, transactions have integer ids, codes come from a separate read, and what a repeated
customIdentifier does is undocumented (here: the transaction already held).
"""

from __future__ import annotations

import secrets
from decimal import Decimal

import msgspec
from aiohttp import web

from ledger.money import MoneyError, format_minor, parse_amount
from ledger.vendors.reloadly import wire
from ledger.vendors.reloadly.records import reloadly_stamp, reloadly_time
from ledger.vendors.reloadly.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER
from ledger.vendors.rest import WireCreateOrder, WireOrder
from ledger.vendors.sandbox.faults import mark_created
from ledger.vendors.sandbox.store import Conflict, NotFound, SandboxStore, Window
from ledger.webhooks.signatures import sign_hex

PREFIX = "/giftcards/"
# The double's product currency: Reloadly prices a card in its product's currency.
CURRENCY = "USD"
# How long a token lives: Reloadly's are days; an hour is plenty for a rehearsal.
TOKEN_LIFETIME_S = 3600
_STATUSES = {
    "fulfilled": "SUCCESSFUL",
    "pending": "PENDING",
    "failed": "FAILED",
    "refunded": "REFUNDED",
}


def authorization(_api_key: str) -> str:
    return ""  # never static: requests carry the tokens the double issued


def unauthorized() -> web.Response:
    return _error(401, "INVALID_TOKEN", "Full authentication is required to access this resource")


def _error(status: int, code: str | None, message: str) -> web.Response:
    body = {"timeStamp": "", "message": message, "path": "", "errorCode": code, "details": []}
    return web.json_response(body, status=status)


def transaction_id(order: WireOrder) -> int:
    return int(order.id.removeprefix("vo_"), 16)


def transaction(order: WireOrder) -> dict[str, object]:
    price = Decimal(format_minor(order.amount_minor, order.currency))
    return {
        "transactionId": transaction_id(order),
        "amount": price,
        "currencyCode": order.currency,
        "customIdentifier": order.reference,
        "status": _STATUSES[order.status],
        "transactionCreatedTime": reloadly_stamp(order.created_at),
        "product": {
            "productId": int(order.brand_id) if order.brand_id.isdigit() else 0,
            "quantity": 1,
            "unitPrice": price,
            "totalPrice": price,
            "currencyCode": order.currency,
        },
    }


def _json(payload: object) -> web.Response:
    return web.Response(body=wire.encoder.encode(payload), content_type="application/json")


class _ReloadlyApi:
    def __init__(self, store: SandboxStore) -> None:
        self.store = store
        self.tokens: set[str] = set()

    async def token(self, request: web.Request) -> web.Response:
        try:
            asked = wire.token_request_decoder.decode(await request.read())
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _error(400, None, str(exc))
        if not asked.client_id or not asked.client_secret:
            return _error(401, "INVALID_CREDENTIALS", "Access Denied")
        token = f"tok_{secrets.token_hex(16)}"
        self.tokens.add(token)
        return _json({"access_token": token, "expires_in": TOKEN_LIFETIME_S, "scope": ""})

    async def expire(self, _request: web.Request) -> web.Response:
        self.tokens.clear()
        return web.Response(status=204)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "").removeprefix("Bearer ") in self.tokens

    async def order(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return unauthorized()
        try:
            asked = wire.order_request_decoder.decode(await request.read())
            minor = parse_amount(str(asked.unit_price), CURRENCY, max_minor=10**9)
        except (msgspec.DecodeError, msgspec.ValidationError, MoneyError) as exc:
            return _error(
                400, None, f"Invalid price, please ensure you selected the right price: {exc}"
            )
        if asked.quantity != 1 or asked.product_id <= 0:
            return _error(404, "PRODUCT_NOT_FOUND", "Product not found")
        body = WireCreateOrder(
            asked.custom_identifier, minor, CURRENCY, str(asked.product_id), asked.sender_name
        )
        try:
            order, replayed = self.store.create(asked.custom_identifier, body)
        except Conflict:
            order, replayed = self.store.by_reference(asked.custom_identifier)[0], True
        return _json(transaction(order)) if replayed else mark_created(_json(transaction(order)))

    async def cards(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return unauthorized()
        try:
            number = int(request.match_info["transaction_id"])
            order = self.store.get(f"vo_{number:016x}")
        except (ValueError, NotFound):
            return _error(404, None, "Invalid transaction id")
        card = order.card if order.status == "fulfilled" else None
        cards = [{"cardNumber": card.code, "pinCode": card.pin}] if card is not None else []
        return _json(cards)

    async def reports(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return unauthorized()
        query = request.query
        try:
            page, size = int(query.get("page", "0")), int(query.get("size", "20"))
            if "customIdentifier" in query:
                found = self.store.by_reference(query["customIdentifier"])
            else:
                window = Window(reloadly_time(query["startDate"]), reloadly_time(query["endDate"]))
                found = self.store.created_in(window)
        except (KeyError, ValueError):
            return _error(400, None, "need startDate and endDate, or customIdentifier")
        content = [transaction(o) for o in found[page * size : (page + 1) * size]]
        pages = -(-len(found) // size) if size > 0 else 0
        return _json({"content": content, "totalPages": pages, "number": page, "size": size})


def register(router: web.UrlDispatcher, store: SandboxStore, _list_cap: int = 0) -> None:
    api = _ReloadlyApi(store)
    router.add_post("/oauth/token", api.token)
    router.add_post("/_admin/tokens/expire", api.expire)
    router.add_post("/giftcards/orders", api.order)
    router.add_get("/giftcards/orders/transactions/{transaction_id}/cards", api.cards)
    router.add_get("/giftcards/reports/transactions", api.reports)


class ReloadlyAnnouncer:
    """Transaction status events as integrators show Reloadly's, signed over body:timestamp."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def body(self, order: WireOrder, event_id: str) -> bytes:
        data = {
            "transactionId": transaction_id(order),
            "customIdentifier": order.reference,
            "status": _STATUSES[order.status],
        }
        return wire.encoder.encode({"type": "giftcard_transaction.status", "data": data})

    def headers(self, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        signed = body + b":" + str(timestamp).encode()
        return {SIGNATURE_HEADER: sign_hex(self._key, signed), TIMESTAMP_HEADER: str(timestamp)}

    def forge(self, body: bytes) -> bytes:
        event = msgspec.json.decode(body)
        event["data"]["status"] = "REFUNDED"
        return msgspec.json.encode(event)
