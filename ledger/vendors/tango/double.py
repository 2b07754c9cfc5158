"""A Tango Card double: RaaS v2's order routes on the sandbox's store, faults and /_admin
(`python run.py sandbox --dialect tango`), so a merchant can rehearse Tango without an account.

Its webhooks are Tango's envelope in its HMAC mode (TangoAnnouncer). It keeps Tango's sharp
edges: a repeated externalRefID answers 200 with the order already held
even when the request differs, the list caps its results (LIST_CAP), leaves the reward out,
and an externalRefID with no order is a 404 `404.110`. Card and status as Tango shows them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
from aiohttp import web

from ledger.money import MoneyError, format_minor, parse_amount
from ledger.vendors.rest import WireCreateOrder, WireOrder
from ledger.vendors.sandbox.faults import mark_created
from ledger.vendors.sandbox.store import Conflict, NotFound, SandboxStore, Window
from ledger.vendors.tango import wire
from ledger.vendors.tango.webhooks import SIGNATURE_HEADER

PREFIX = "/raas/v2/"
# Tango's documented cap on one list query (SandboxConfig.list_cap makes it small in tests).
LIST_CAP = 10_000
# The double's account currency: Tango charges in the account's, and its requests name none.
CURRENCY = "USD"
# utids with this prefix are not in the catalog (Tango's 404.033), as the sandbox's brands.
UNKNOWN_UTID_PREFIX = "invalid"
_STATUSES = {
    "fulfilled": "COMPLETE",
    "pending": "PENDING",
    "failed": "FAILED",
    "refunded": "CANCELLED",
}


def authorization(api_key: str) -> str:
    """`api_key` is "platform_name:platform_key": Tango's Basic credentials."""
    return "Basic " + base64.b64encode(api_key.encode()).decode()


def _error(status: int, key: str, message: str) -> web.Response:
    body = {
        "timestamp": datetime.now(UTC).isoformat(),
        "requestId": secrets.token_hex(8),
        "httpCode": status,
        "i18nKey": key,
        "message": message,
    }
    return web.json_response(body, status=status)


def unauthorized() -> web.Response:
    return _error(401, "401.002", "Invalid credentials: check your platform name and key")


def tango_order(order: WireOrder) -> dict[str, object]:
    value = Decimal(format_minor(order.amount_minor, order.currency))
    money = {"value": value, "currencyCode": order.currency}
    view: dict[str, object] = {
        "referenceOrderID": order.id,
        "externalRefID": order.reference,
        "utid": order.brand_id,
        "status": _STATUSES[order.status],
        "createdAt": order.created_at,
        "amountCharged": money | {"total": value},
        "denomination": money,
    }
    if order.card is not None:
        listed = [
            ("Card Number", order.card.code, "cardNumber"),
            ("PIN", order.card.pin, "cardPin"),
            ("Redemption URL", order.card.url, "redemptionUrl"),
        ]
        present = [(label, text, kind) for label, text, kind in listed if text]
        view["reward"] = {
            "credentials": {label: text for label, text, _ in present},
            "credentialList": [
                {"label": label, "value": text, "type": "text", "credentialType": kind}
                for label, text, kind in present
            ],
        }
    return view


def _json(status: int, payload: object) -> web.Response:
    return web.Response(
        status=status, body=wire.encoder.encode(payload), content_type="application/json"
    )


class _TangoApi:
    def __init__(self, store: SandboxStore, list_cap: int) -> None:
        self.store = store
        self.list_cap = list_cap

    async def create_order(self, request: web.Request) -> web.Response:
        try:
            criteria = wire.order_criteria_decoder.decode(await request.read())
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _error(400, "400.009", f"malformed request: {exc}")
        if criteria.utid.startswith(UNKNOWN_UTID_PREFIX):
            return _error(404, "404.033", f"utid {criteria.utid} is not in your catalog")
        try:
            minor = parse_amount(str(criteria.amount), CURRENCY, max_minor=10**9)
        except MoneyError as exc:
            return _error(422, "422.105", str(exc))
        body = WireCreateOrder(
            criteria.external_ref_id, minor, CURRENCY, criteria.utid, criteria.customer_identifier
        )
        try:
            order, replayed = self.store.create(criteria.external_ref_id, body)
        except Conflict:
            # Tango's quirk: the original order, 200, whatever this request asked.
            order, replayed = self.store.by_reference(criteria.external_ref_id)[0], True
        if replayed:
            return _json(200, tango_order(order))
        return mark_created(_json(201, tango_order(order)))

    async def list_orders(self, request: web.Request) -> web.Response:
        query = request.query
        if "externalRefID" in query:
            found = self.store.by_reference(query["externalRefID"])
            if not found:
                return _error(404, "404.110", "no orders for this externalRefID")
            return self._page([_without_card(o) for o in found], 0, len(found), len(found))
        try:
            start = datetime.fromisoformat(query["startDate"])
            end = datetime.fromisoformat(query["endDate"])
            per, page = int(query.get("elementsPerBlock", "10")), int(query.get("page", "0"))
        except (KeyError, ValueError):
            return _error(400, "400.009", "need startDate, endDate, elementsPerBlock, page")
        rows = self.store.created_in(Window(start, end))
        capped = rows[: self.list_cap]
        return self._page(capped[page * per : (page + 1) * per], page, per, len(rows))

    def _page(self, orders: list[WireOrder], page: int, per: int, total: int) -> web.Response:
        listing = {
            "page": {
                "number": page,
                "elementsPerBlock": per,
                "resultCount": len(orders),
                "totalCount": total,
            },
            "orders": [tango_order(o) for o in orders],
        }
        return _json(200, listing)

    async def get_order(self, request: web.Request) -> web.Response:
        try:
            return _json(200, tango_order(self.store.get(request.match_info["order_id"])))
        except NotFound:
            return _error(404, "404.005", "order not found")


def _without_card(order: WireOrder) -> WireOrder:
    return msgspec.structs.replace(order, card=None)


def register(router: web.UrlDispatcher, store: SandboxStore, list_cap: int = LIST_CAP) -> None:
    api = _TangoApi(store, list_cap)
    router.add_post("/raas/v2/orders", api.create_order)
    router.add_get("/raas/v2/orders", api.list_orders)
    router.add_get("/raas/v2/orders/{order_id}", api.get_order)


class TangoAnnouncer:
    """Order events in Tango's envelope, signed as its HMAC mode is configured by default."""

    def __init__(self, shared_key: str) -> None:
        self._key = shared_key.encode()
        self._revisions: dict[str, int] = {}

    def body(self, order: WireOrder, event_id: str) -> bytes:
        revision = self._revisions[order.id] = self._revisions.get(order.id, 0) + 1
        event = {
            "eventId": event_id,
            "revision": revision,
            "category": "ORDER",
            "eventTypes": ["ORDER_STATUS"],
            "eventOccurredAt": order.updated_at,
            "eventData": {
                "referenceOrderID": order.id,
                "externalRefID": order.reference,
                "status": _STATUSES[order.status],
            },
        }
        return wire.encoder.encode(event)

    def headers(self, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        mac = hmac.new(self._key, body, hashlib.sha256).digest()
        return {SIGNATURE_HEADER: base64.b64encode(mac).decode()}

    def forge(self, body: bytes) -> bytes:
        event = msgspec.json.decode(body)
        event["eventData"]["status"] = "CANCELLED"
        return msgspec.json.encode(event)
