"""The Runa adapter: our order as one payout-link item, in sync mode, keyed by
`X-Idempotency-Key` (Runa replays the first answer to a key for 30 days), our reference in its
metadata. Runa cannot find an order by our key: a look-up needs Runa's order id, kept from its
first answer; without one, a replay of the create within the 30 days is the look-up
(ledger.orders.decisions.next_vendor_step)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

import aiohttp

from ledger.money import format_minor
from ledger.vendors.base import (
    Outcome,
    TransactionPage,
    VendorOrderRequest,
    VendorOrderView,
    VendorUnavailable,
    unmapped_brand,
)
from ledger.vendors.runa import wire
from ledger.vendors.runa.classify import Asked, classify, error_type
from ledger.vendors.runa.records import REFERENCE_KEY, to_view
from ledger.vendors.transport import HttpVendor, decode_read, utcnow

# Runa's largest page.
MAX_PAGE = 500


class RunaAdapter(HttpVendor):
    looks_up_by_reference = False

    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        api_key: str,
        products: Mapping[str, str],
        attempt_timeout: float,
        key_retention: timedelta,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(name, base_url, session, None, attempt_timeout, key_retention, clock)
        self._headers |= {"X-Api-Key": api_key, "X-Api-Version": wire.API_VERSION}
        self._products = dict(products)

    async def create_order(self, req: VendorOrderRequest) -> Outcome:
        product = self._products.get(req.brand_id)
        if product is None:
            return unmapped_brand(req.brand_id, "product code")
        order = wire.OrderRequest(
            payment_method=wire.PaymentMethod(req.currency),
            items=[
                wire.Item(
                    Decimal(format_minor(req.amount_minor, req.currency)), wire.Products(product)
                )
            ],
            metadata={REFERENCE_KEY: req.reference},
        )
        asked = Asked(req.amount_minor, req.currency)
        # Sync mode answers with the finished order and its link (one item, as ours is).
        headers = {"X-Idempotency-Key": req.reference, "X-Execution-Mode": "sync"}
        return await self._attempt(
            "/order",
            lambda status, answer_headers, body, now: classify(
                status, answer_headers, body, asked, now
            ),
            wire.encoder.encode(order),
            headers,
        )

    async def _order(self, order_id: str) -> wire.Order | None:
        try:
            body = await self._read(f"/order/{order_id}", error_type)
        except VendorUnavailable as exc:
            if exc.http_status == 404 and exc.detail == "not_found":  # Runa's own, by type
                return None
            raise
        return decode_read(wire.order_decoder, body)

    async def get_order(
        self, reference: str, vendor_order_id: str | None = None
    ) -> VendorOrderView | None:
        if vendor_order_id is None:
            # Never "absent": Runa may hold it; the decision replays the create instead.
            raise VendorUnavailable("no_lookup_by_reference", "Runa finds orders by its id only")
        order = await self._order(vendor_order_id)
        return to_view(order) if order is not None else None

    async def list_transactions(
        self, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> TransactionPage:
        """Runa's listing has no date filter: every page is read, orders created in
        [start, end) kept. A listed order without our reference or its item (listings carry a
        subset of fields) is read in full by its id."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("transaction window bounds must be timezone-aware")
        params = {"limit": str(min(limit, MAX_PAGE))}
        if cursor:
            params["after"] = cursor
        listed = decode_read(
            wire.list_decoder, await self._read("/order", error_type, params=params)
        )
        records = []
        for order in listed.items:
            if order.created_at is not None and not start <= order.created_at < end:
                continue
            if REFERENCE_KEY not in order.metadata or not order.items:
                order = await self._order(order.id) or order
            view = to_view(order)
            if start <= view.created_at < end:
                records.append(view)
        following = listed.pagination.cursors.after if listed.items else None
        return TransactionPage(records, following)
