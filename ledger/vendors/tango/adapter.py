"""The Tango Card adapter: our order as a RaaS v2 order, every answer classified by Tango's
own error keys, look-ups by externalRefID, and listings split where Tango caps them.

Tango answers a repeated externalRefID with the order it already holds, even when the request
differs: an answer is success only if it is the order we asked for (utid and amount).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

import aiohttp
import msgspec
import structlog

from ledger.money import format_minor
from ledger.vendors.base import (
    Outcome,
    TransactionPage,
    VendorOrderRequest,
    VendorOrderView,
    VendorUnavailable,
    unmapped_brand,
)
from ledger.vendors.tango import wire
from ledger.vendors.tango.classify import Asked, classify, error_key
from ledger.vendors.tango.listing import ListingCursor
from ledger.vendors.tango.records import to_view
from ledger.vendors.transport import HttpVendor, decode_read, iso_utc, utcnow

log = structlog.get_logger(__name__)

# Tango's documented order-list cap; windows holding more are split until each fits.
DEFAULT_LIST_CAP = 10_000
# "No orders for this externalRefID": the one 404 that means absence (others: account, path).
NO_ORDERS_FOR_REFERENCE = "404.110"


class TangoAccount(msgspec.Struct, frozen=True):
    platform_name: str
    platform_key: str
    account_identifier: str
    customer_identifier: str


class TangoAdapter(HttpVendor):
    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        account: TangoAccount,
        brands: Mapping[str, str],
        attempt_timeout: float,
        key_retention: timedelta,
        *,
        list_cap: int = DEFAULT_LIST_CAP,
        first_page: int = 0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        basic = f"{account.platform_name}:{account.platform_key}".encode()
        authorization = "Basic " + base64.b64encode(basic).decode()
        super().__init__(
            name, base_url, session, authorization, attempt_timeout, key_retention, clock
        )
        self._account = account
        self._brands = dict(brands)
        self._list_cap = list_cap
        self._first_page = first_page

    async def create_order(self, req: VendorOrderRequest) -> Outcome:
        utid = self._brands.get(req.brand_id)
        if utid is None:
            return unmapped_brand(req.brand_id, "utid")
        criteria = wire.CreateOrderCriteria(
            account_identifier=self._account.account_identifier,
            customer_identifier=self._account.customer_identifier,
            utid=utid,
            amount=Decimal(format_minor(req.amount_minor, req.currency)),
            external_ref_id=req.reference,
        )
        asked = Asked(utid, req.amount_minor, req.currency)
        return await self._attempt(
            "/raas/v2/orders",
            lambda status, headers, body, now: classify(status, headers, body, asked, now),
            wire.encoder.encode(criteria),
        )

    async def _get(self, path: str, params: dict[str, str] | None = None) -> bytes:
        return await self._read(f"/raas/v2{path}", error_key, params=params)

    def _account_params(self) -> dict[str, str]:
        return {
            "accountIdentifier": self._account.account_identifier,
            "customerIdentifier": self._account.customer_identifier,
        }

    async def get_order(
        self, reference: str, vendor_order_id: str | None = None
    ) -> VendorOrderView | None:
        params = self._account_params() | {"externalRefID": reference}
        try:
            listed = decode_read(wire.list_decoder, await self._get("/orders", params))
        except VendorUnavailable as exc:
            if exc.http_status == 404 and exc.detail == NO_ORDERS_FOR_REFERENCE:
                return None
            raise
        if not listed.orders:
            return None
        if len(listed.orders) > 1:
            log.warning("vendor_duplicate_reference", vendor=self.name, count=len(listed.orders))
        first = min(listed.orders, key=lambda o: (o.created_at, o.reference_order_id))
        # The list leaves the reward out; the order by id carries the card.
        verbose = await self._get(f"/orders/{first.reference_order_id}")
        return to_view(decode_read(wire.order_decoder, verbose), reference)

    async def list_transactions(
        self, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> TransactionPage:
        """Tango lists by creation time, at most `list_cap` results per query: a window that
        holds more is halved (the cursor keeps the halves still to list) until each fits."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("transaction window bounds must be timezone-aware")
        state = ListingCursor.decode(cursor) if cursor else ListingCursor.first(start, end)
        while True:
            window_start, window_end = state.windows[0]
            params = self._account_params() | {
                "startDate": iso_utc(window_start),
                "endDate": iso_utc(window_end),
                "elementsPerBlock": str(limit),
                "page": str(self._first_page + state.page),
            }
            listed = decode_read(wire.list_decoder, await self._get("/orders", params))
            if state.page or listed.page.total_count <= self._list_cap:
                break
            if not state.can_split():
                # Listing what fits would pass the rest off as absent: missing_at_vendor for
                # orders Tango holds. The run fails instead, naming the window.
                window = f"{iso_utc(window_start)}..{iso_utc(window_end)}"
                detail = f"{listed.page.total_count} orders in {window}"
                raise VendorUnavailable(
                    "listing_capped", f"{detail}, over the cap of {self._list_cap}"
                )
            state = state.split()
        records = [
            to_view(order)
            for order in listed.orders
            if window_start <= order.created_at < window_end
        ]
        reachable = min(listed.page.total_count, self._list_cap)
        following = state.after_page(more=(state.page + 1) * limit < reachable)
        return TransactionPage(records, following.encode() if following else None)
