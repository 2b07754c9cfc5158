"""A Giftbit double: API v1's direct-link routes on the sandbox's store, faults and /_admin
(`python run.py sandbox --dialect giftbit`; base_url `http://host:port/papi/v1`).

It keeps Giftbit's edges: only 200 is success, a repeated `id` creates nothing and answers the
campaign already held, money in cents, dates in Pacific time without an offset, links from
/links/{id}, gifts listed by offset; no webhooks.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from ledger.vendors.giftbit import wire
from ledger.vendors.giftbit.records import giftbit_stamp, giftbit_time
from ledger.vendors.rest import WireCreateOrder, WireOrder
from ledger.vendors.sandbox.faults import mark_created
from ledger.vendors.sandbox.store import Conflict, NotFound, SandboxStore, Window

PREFIX = "/papi/v1/"
# The double's account currency: Giftbit's prices are cents of the account's.
CURRENCY = "USD"
# Brand codes with this prefix are not in the catalog, as the sandbox's brands.
UNKNOWN_BRAND_PREFIX = "invalid"
_CAMPAIGN_STATUSES = {"fulfilled": "CAMPAIGN_CREATED", "pending": "API_CREATING"}
_GIFT_STATUSES = {"fulfilled": "SENT_AND_REDEEMABLE", "refunded": "GIVER_CANCELLED"}


def authorization(api_key: str) -> str:
    return f"Bearer {api_key}"


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"code": code, "name": code.title(), "message": message}, "status": status}
    return web.json_response(body, status=status)


def unauthorized() -> web.Response:
    return _error(401, "ERROR_UNAUTHORIZED", "missing or wrong API token")


def campaign(order: WireOrder) -> dict[str, object]:
    return {
        "id": order.reference,
        "uuid": order.id,
        # A failed order is one Giftbit never documented a status for: the adapter says so.
        "status": _CAMPAIGN_STATUSES.get(order.status, "CAMPAIGN_FAILED"),
        "delivery_type": "DIRECT_LINK",
        "price_in_cents": order.amount_minor,
        "brand_codes": [order.brand_id],
        "created_date": giftbit_stamp(order.created_at),
    }


class _GiftbitApi:
    def __init__(self, store: SandboxStore) -> None:
        self.store = store

    async def direct_links(self, request: web.Request) -> web.Response:
        try:
            asked = wire.create_decoder.decode(await request.read())
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _error(400, "ERROR_INVALID_REQUEST", str(exc))
        if len(asked.brand_codes) != 1 or asked.brand_codes[0].startswith(UNKNOWN_BRAND_PREFIX):
            return _error(422, "ERROR_CAMPAIGN_INVALID_BRAND", f"no brand {asked.brand_codes}")
        if asked.price_in_cents <= 0:
            return _error(422, "ERROR_CAMPAIGN_INVALID_PRICE", "price_in_cents must be positive")
        body = WireCreateOrder(asked.id, asked.price_in_cents, CURRENCY, asked.brand_codes[0], "")
        try:
            order, replayed = self.store.create(asked.id, body)
        except Conflict:
            order, replayed = self.store.by_reference(asked.id)[0], True  # one per id, whatever
        links = [order.card.url] if order.card is not None and order.status == "fulfilled" else []
        answer = {
            "info": {"code": "INFO_CAMPAIGN_CREATED"},
            "status": 200,
            "campaign": campaign(order),
            "direct_links": links,
        }
        response = web.json_response(answer)
        return response if replayed else mark_created(response)

    def _held(self, campaign_id: str) -> WireOrder | None:
        found = self.store.by_reference(campaign_id)
        return found[0] if found else None

    async def get_campaign(self, request: web.Request) -> web.Response:
        order = self._held(request.match_info["campaign_id"])
        if order is None:
            return _error(404, "ERROR_CAMPAIGN_NOT_FOUND", "no such campaign")
        return web.json_response(
            {"info": {"code": "INFO_CAMPAIGN_RETRIEVED"}, "campaign": campaign(order)}
        )

    async def get_links(self, request: web.Request) -> web.Response:
        order = self._held(request.match_info["campaign_id"])
        if order is None:
            return _error(404, "ERROR_CAMPAIGN_NOT_FOUND", "no such campaign")
        try:
            card = self.store.get(order.id).card
        except NotFound:
            card = None
        links = [{"link": card.url, "number": 1}] if card is not None else []
        return web.json_response({"info": {"code": "INFO_LINKS"}, "directlinks": links})

    async def gifts(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            start = giftbit_time(query["created_date_greater_than"])
            end = giftbit_time(query["created_date_less_than"])
            limit, offset = int(query.get("limit", "20")), int(query.get("offset", "0"))
        except (KeyError, ValueError):
            return _error(400, "ERROR_INVALID_REQUEST", "need created_date bounds, limit, offset")
        listed = [
            o for o in self.store.created_in(Window(start, end)) if o.status in _GIFT_STATUSES
        ]
        gifts = [
            {
                "uuid": f"gift-{o.id}",
                "campaign_uuid": o.id,
                "campaign_id": o.reference,
                "status": _GIFT_STATUSES[o.status],
                "price_in_cents": o.amount_minor,
                "created_date": giftbit_stamp(o.created_at),
            }
            for o in listed[offset : offset + limit]
        ]
        answer = {"gifts": gifts, "number_of_results": len(gifts), "limit": limit}
        return web.json_response(answer | {"offset": offset, "total_count": len(listed)})


def register(router: web.UrlDispatcher, store: SandboxStore, _list_cap: int = 0) -> None:
    api = _GiftbitApi(store)
    router.add_post("/papi/v1/direct_links", api.direct_links)
    router.add_get("/papi/v1/campaign/{campaign_id}", api.get_campaign)
    router.add_get("/papi/v1/links/{campaign_id}", api.get_links)
    router.add_get("/papi/v1/gifts", api.gifts)
