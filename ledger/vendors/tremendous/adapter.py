"""The Tremendous adapter: our order as a one-reward LINK order keyed by external_id, every
answer classified by its status, look-ups by external_id, listings paged by offset.

Tremendous answers a changed payload under a known external_id with 409, and a repeat with
201 and the order it holds; the link is only in answers to a create, so a look-up asks for a
new one (POST /rewards/{id}/generate_link) when the order executed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

import aiohttp
import structlog

from ledger.money import format_minor
from ledger.vendors.base import (
    CardSecret,
    Outcome,
    TransactionPage,
    VendorOrderRequest,
    VendorOrderView,
    unmapped_brand,
)
from ledger.vendors.transport import HttpVendor, decode_read, iso_utc, offset_cursor, utcnow
from ledger.vendors.tremendous import wire
from ledger.vendors.tremendous.classify import Asked, classify, error_message
from ledger.vendors.tremendous.records import to_view

log = structlog.get_logger(__name__)

# Tremendous' largest page.
MAX_PAGE = 500


class TremendousAdapter(HttpVendor):
    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        api_key: str,
        funding_source_id: str,
        products: Mapping[str, str],
        attempt_timeout: float,
        key_retention: timedelta,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(
            name, base_url, session, f"Bearer {api_key}", attempt_timeout, key_retention, clock
        )
        self._funding_source_id = funding_source_id
        self._products = dict(products)

    async def create_order(self, req: VendorOrderRequest) -> Outcome:
        product = self._products.get(req.brand_id)
        if product is None:
            return unmapped_brand(req.brand_id, "product")
        value = wire.Value(Decimal(format_minor(req.amount_minor, req.currency)), req.currency)
        order = wire.CreateOrder(
            external_id=req.reference,
            payment=wire.Payment(self._funding_source_id),
            reward=wire.RewardRequest(
                value=value, products=[product], recipient=wire.Recipient(name=req.customer_id)
            ),
        )
        asked = Asked(req.amount_minor, req.currency)
        return await self._attempt(
            "/api/v2/orders",
            lambda status, headers, body, now: classify(status, headers, body, asked, now),
            wire.encoder.encode(order),
        )

    async def _list(self, params: dict[str, str]) -> wire.OrderList:
        # Absence is an empty list, never a status.
        body = await self._read("/api/v2/orders", error_message, params=params)
        return decode_read(wire.list_decoder, body)

    async def get_order(
        self, reference: str, vendor_order_id: str | None = None
    ) -> VendorOrderView | None:
        listed = await self._list({"external_id": reference})
        if not listed.orders:
            return None
        if len(listed.orders) > 1:
            log.warning("vendor_duplicate_reference", vendor=self.name, count=len(listed.orders))
        order = min(listed.orders, key=lambda o: (o.created_at, o.id))
        card = await self._link(order) if order.status == "EXECUTED" else None
        return to_view(order, card)

    async def _link(self, order: wire.Order) -> CardSecret | None:
        """A fresh redemption link for the order's reward (the list never carries one)."""
        if not order.rewards:
            return None
        path = f"/api/v2/rewards/{order.rewards[0].id}/generate_link"
        payload = await self._read(path, error_message, method="POST")
        link = decode_read(wire.link_decoder, payload).reward.link
        return CardSecret(link, None, link)

    async def list_transactions(
        self, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> TransactionPage:
        """Orders created in [start, end), by offset (Tremendous lists newest first; a past
        window gains no new orders, so offsets hold between pages)."""
        offset = offset_cursor(start, end, cursor, "Tremendous")
        size = min(limit, MAX_PAGE)
        listed = await self._list(
            {
                "created_at[gte]": iso_utc(start),
                "created_at[lte]": iso_utc(end),
                "offset": str(offset),
                "limit": str(size),
            }
        )
        records = [to_view(o) for o in listed.orders if start <= o.created_at < end]
        following = offset + len(listed.orders)
        more = listed.orders and following < listed.total_count
        return TransactionPage(records, str(following) if more else None)
