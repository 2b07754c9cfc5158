"""The Giftbit adapter: our order as one direct link keyed by Giftbit's idempotent `id`,
look-ups by that id, listings of gifts by offset. Giftbit sends no webhooks: its orders are
confirmed by look-ups and reconciliation only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import aiohttp

from ledger.money import exponent
from ledger.vendors.base import (
    Outcome,
    TransactionPage,
    VendorOrderRequest,
    VendorOrderView,
    VendorUnavailable,
    unmapped_brand,
)
from ledger.vendors.giftbit import wire
from ledger.vendors.giftbit.classify import Asked, classify, error_code
from ledger.vendors.giftbit.records import campaign_view, card_of, gift_view, giftbit_stamp
from ledger.vendors.transport import HttpVendor, decode_read, offset_cursor, utcnow

# Giftbit's largest page of gifts.
MAX_PAGE = 500


class GiftbitAdapter(HttpVendor):
    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        api_key: str,
        brands: Mapping[str, str],
        attempt_timeout: float,
        key_retention: timedelta,
        *,
        currency: str = "USD",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(
            name, base_url, session, f"Bearer {api_key}", attempt_timeout, key_retention, clock
        )
        self._brands = dict(brands)
        self._currency = currency

    async def create_order(self, req: VendorOrderRequest) -> Outcome:
        brand = self._brands.get(req.brand_id)
        if brand is None or req.currency != self._currency or exponent(req.currency) != 2:
            return unmapped_brand(req.brand_id, f"brand code in {req.currency}")
        order = wire.CreateDirectLinks(req.reference, req.amount_minor, [brand])
        asked = Asked(brand, req.amount_minor)
        return await self._attempt(
            "/direct_links",
            lambda status, headers, body, now: classify(status, headers, body, asked, now),
            wire.encoder.encode(order),
        )

    async def get_order(
        self, reference: str, vendor_order_id: str | None = None
    ) -> VendorOrderView | None:
        try:
            body = await self._read(f"/campaign/{reference}", error_code)
        except VendorUnavailable as exc:
            # Giftbit's own "no such campaign" (its error type on a 404) is absence; a 404 from
            # anything else (a proxy, a wrong base_url) is not.
            if exc.http_status == 404 and exc.detail.startswith("ERROR_"):
                return None
            raise
        answer = decode_read(wire.campaign_decoder, body)
        card = None
        if answer.campaign.status == "CAMPAIGN_CREATED":
            links = decode_read(
                wire.links_decoder, await self._read(f"/links/{reference}", error_code)
            )
            card = card_of([link.link for link in links.directlinks])
        return campaign_view(answer, self._currency, card, self._clock())

    async def list_transactions(
        self, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> TransactionPage:
        """Gifts created in [start, end), oldest first, by offset."""
        offset = offset_cursor(start, end, cursor, "Giftbit")
        params = {
            "created_date_greater_than": giftbit_stamp(start - timedelta(seconds=1)),
            "created_date_less_than": giftbit_stamp(end),
            "limit": str(min(limit, MAX_PAGE)),
            "offset": str(offset),
            "order": "asc",
        }
        listed = decode_read(
            wire.gifts_decoder, await self._read("/gifts", error_code, params=params)
        )
        records = [gift_view(g, self._currency) for g in listed.gifts]
        records = [r for r in records if start <= r.created_at < end]
        following = offset + len(listed.gifts)
        more = bool(listed.gifts) and following < listed.total_count
        return TransactionPage(records, str(following) if more else None)
