"""A Tremendous double: API v2's order routes on the sandbox's store, faults and /_admin
(`python run.py sandbox --dialect tremendous`), so a merchant can rehearse Tremendous first.

It keeps Tremendous' edges: a new order answers 200 and a repeat 201, a changed payload under
a known external_id is a 409, errors carry no code, listings are newest first by offset, and
the link is in the create answer only (a look-up asks generate_link for one).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec
from aiohttp import web

from ledger.money import MoneyError, format_minor, parse_amount
from ledger.vendors.rest import WireCreateOrder, WireOrder
from ledger.vendors.sandbox.faults import mark_created
from ledger.vendors.sandbox.store import Conflict, NotFound, SandboxStore, Window
from ledger.vendors.tremendous import wire
from ledger.vendors.tremendous.webhooks import SIGNATURE_HEADER
from ledger.webhooks.signatures import sign_hex

PREFIX = "/api/v2/"
# Products with this prefix do not exist, as the sandbox's brands.
UNKNOWN_PRODUCT_PREFIX = "invalid"
_STATUSES = {
    "fulfilled": "EXECUTED",
    "pending": "PENDING APPROVAL",
    "failed": "FAILED",
    "refunded": "CANCELED",
}


def authorization(api_key: str) -> str:
    return f"Bearer {api_key}"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"errors": {"message": message, "payload": {}}}, status=status)


def unauthorized() -> web.Response:
    return _error(401, "Invalid API key")


def tremendous_order(order: WireOrder, *, link: bool) -> dict[str, object]:
    value = {
        "denomination": Decimal(format_minor(order.amount_minor, order.currency)),
        "currency_code": order.currency,
    }
    delivery: dict[str, object] = {"method": "LINK", "status": "SUCCEEDED"}
    if link and order.card is not None:
        delivery["link"] = order.card.url
    reward = {"id": f"rw_{order.id}", "order_id": order.id, "value": value, "delivery": delivery}
    return {
        "id": order.id,
        "external_id": order.reference,
        "created_at": order.created_at,
        "status": _STATUSES[order.status],
        "payment": {"subtotal": value["denomination"], "total": value["denomination"], "fees": 0},
        "rewards": [reward],
    }


def _json(status: int, payload: object) -> web.Response:
    return web.Response(
        status=status, body=wire.encoder.encode(payload), content_type="application/json"
    )


class _TremendousApi:
    def __init__(self, store: SandboxStore) -> None:
        self.store = store

    async def create_order(self, request: web.Request) -> web.Response:
        try:
            order = wire.create_decoder.decode(await request.read())
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _error(400, f"invalid request: {exc}")
        reward = order.reward
        if len(reward.products) != 1 or reward.products[0].startswith(UNKNOWN_PRODUCT_PREFIX):
            return _error(422, f"products {reward.products} are not available")
        try:
            minor = parse_amount(
                str(reward.value.denomination), reward.value.currency_code, max_minor=10**9
            )
        except MoneyError as exc:
            return _error(422, str(exc))
        body = WireCreateOrder(
            order.external_id,
            minor,
            reward.value.currency_code,
            reward.products[0],
            reward.recipient.name or "",
        )
        try:
            held, replayed = self.store.create(order.external_id, body)
        except Conflict:
            return _error(409, "an order with this external_id exists with other parameters")
        # The reverse of most: a new order is 200, the one already held 201.
        answer = {"order": tremendous_order(held, link=True)}
        return _json(201, answer) if replayed else mark_created(_json(200, answer))

    async def list_orders(self, request: web.Request) -> web.Response:
        query = request.query
        if "external_id" in query:
            found = self.store.by_reference(query["external_id"])
        else:
            try:
                start = datetime.fromisoformat(query["created_at[gte]"])
                end = datetime.fromisoformat(query["created_at[lte]"])
            except (KeyError, ValueError):
                return _error(400, "need created_at[gte] and created_at[lte]")
            found = self.store.created_in(Window(start, end))
        try:
            offset, limit = int(query.get("offset", "0")), int(query.get("limit", "10"))
        except ValueError:
            return _error(400, "offset and limit are integers")
        newest_first = sorted(found, key=lambda o: (o.created_at, o.id), reverse=True)
        page = newest_first[offset : offset + min(limit, 500)]
        orders = [tremendous_order(o, link=False) for o in page]
        return _json(200, {"orders": orders, "total_count": len(found)})

    async def get_order(self, request: web.Request) -> web.Response:
        try:
            held = self.store.get(request.match_info["order_id"])
        except NotFound:
            return _error(404, "order not found")
        return _json(200, {"order": tremendous_order(held, link=False)})

    async def generate_link(self, request: web.Request) -> web.Response:
        reward_id = request.match_info["reward_id"]
        try:
            held = self.store.get(reward_id.removeprefix("rw_"))
        except NotFound:
            return _error(404, "reward not found")
        return _json(200, {"reward": {"id": reward_id, "link": held.card.url if held.card else ""}})


def register(router: web.UrlDispatcher, store: SandboxStore, _list_cap: int = 0) -> None:
    api = _TremendousApi(store)
    router.add_post("/api/v2/orders", api.create_order)
    router.add_get("/api/v2/orders", api.list_orders)
    router.add_get("/api/v2/orders/{order_id}", api.get_order)
    router.add_post("/api/v2/rewards/{reward_id}/generate_link", api.generate_link)


# What the double announces for each of its orders' states (Tremendous' order events).
_EVENTS = {
    "pending": "ORDERS.CREATED",
    "fulfilled": "ORDERS.APPROVED",
    "failed": "ORDERS.FAILED",
    "refunded": "ORDERS.CANCELED",
}


class TremendousAnnouncer:
    """Order events as Tremendous words them, signed with the webhook's private key."""

    def __init__(self, private_key: str) -> None:
        self._key = private_key.encode()

    def body(self, order: WireOrder, event_id: str) -> bytes:
        event = {
            "event": _EVENTS[order.status],
            "uuid": event_id,
            "created_utc": order.updated_at,
            "payload": {"resource": {"id": order.id, "type": "orders"}, "meta": {}},
        }
        return wire.encoder.encode(event)

    def headers(self, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        return {SIGNATURE_HEADER: "sha256=" + sign_hex(self._key, body)}

    def forge(self, body: bytes) -> bytes:
        event = msgspec.json.decode(body)
        event["payload"]["resource"]["id"] = "ORD-FORGED"
        return msgspec.json.encode(event)
