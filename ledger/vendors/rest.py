"""Adapter for vendors speaking the sandbox's REST dialect (the sandbox is the default vendor).

One HTTP attempt per call. Every way an attempt can go wrong is classified, never raised: the
caller must be able to tell "the vendor refused" (terminal) from "we do not know" (retry with the
same key, or look the order up by reference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated

import aiohttp
import msgspec
import structlog
from msgspec import Meta

from ledger.money import CURRENCY_CODE_PATTERN, MoneyError, exponent
from ledger.text import retry_after_seconds
from ledger.vendors.base import (
    REFERENCE_CONFLICT,
    CardSecret,
    Outcome,
    Rejected,
    TransactionPage,
    Unknown,
    VendorCursor,
    VendorId,
    VendorOrderRequest,
    VendorOrderView,
    VendorStatus,
    VendorUnavailable,
    WebhookHint,
    answered,
    decode_webhook,
)
from ledger.vendors.transport import (
    DETAIL_LIMIT,
    HttpVendor,
    body_digest,
    decode_read,
    iso_utc,
    utcnow,
)

log = structlog.get_logger(__name__)

# The dialect's documented verdicts on an order (docs/sandbox.md): only these fail an order
# whose earlier attempt may have reached the vendor. 401, 404, 413 and undocumented codes are
# about the request or the path to the vendor, not the order.
BUSINESS_CODES = frozenset({"invalid_amount", "invalid_currency", "brand_not_found"})


class WireCreateOrder(msgspec.Struct, frozen=True):
    reference: str
    amount_minor: int
    currency: str
    brand_id: str
    customer_id: str


# Amounts as VendorId's comment says (ledger.vendors.base): within PostgreSQL's bigint.
VendorMinor = Annotated[int, Meta(ge=0, lt=10**15)]
VendorCurrency = Annotated[str, Meta(pattern=CURRENCY_CODE_PATTERN)]


class WireOrder(msgspec.Struct, frozen=True, kw_only=True):
    id: VendorId
    reference: VendorId
    status: VendorStatus
    amount_minor: VendorMinor
    currency: VendorCurrency
    brand_id: str = ""
    customer_id: str = ""
    created_at: datetime
    updated_at: datetime
    card: CardSecret | None = None


class WireErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str = ""


class WireError(msgspec.Struct, frozen=True):
    error: WireErrorBody


class WireWebhookData(msgspec.Struct, frozen=True):
    vendor_order_id: str | None = None
    reference: str | None = None
    status: str | None = None


class WireWebhook(msgspec.Struct, frozen=True):
    type: str
    data: WireWebhookData
    id: str | None = None


class WireTransactionPage(msgspec.Struct, frozen=True):
    data: list[WireOrder]
    next_cursor: VendorCursor | None = None


_encoder = msgspec.json.Encoder()
_order_decoder = msgspec.json.Decoder(WireOrder)
_orders_decoder = msgspec.json.Decoder(list[WireOrder])
_page_decoder = msgspec.json.Decoder(WireTransactionPage)
_error_decoder = msgspec.json.Decoder(WireError)
_webhook_decoder = msgspec.json.Decoder(WireWebhook)


def parse_webhook(body: bytes) -> WebhookHint:
    """The sandbox dialect's webhook (docs/sandbox.md)."""
    webhook = decode_webhook(_webhook_decoder, body)
    data = webhook.data
    return WebhookHint(webhook.type, webhook.id, data.reference, data.vendor_order_id, data.status)


def to_view(order: WireOrder) -> VendorOrderView:
    """The dialect's record as ours; raises VendorUnavailable for a currency outside ISO 4217
    (a withdrawn one, say), which no exponent reads and no page could show."""
    try:
        exponent(order.currency)
    except MoneyError as exc:
        raise VendorUnavailable("bad_response", f"{order.id}: {exc}"[:DETAIL_LIMIT]) from None
    return VendorOrderView(
        vendor_order_id=order.id,
        reference=order.reference,
        status=order.status,
        amount_minor=order.amount_minor,
        currency=order.currency,
        created_at=order.created_at,
        updated_at=order.updated_at,
        card=order.card,
    )


def _error(status: int, body: bytes) -> WireErrorBody:
    try:
        return _error_decoder.decode(body).error
    except msgspec.DecodeError:
        code, _, detail = body_digest(status, body).partition(": ")
        return WireErrorBody(code, detail)


def classify(
    status: int, headers: Mapping[str, str], body: bytes, now: datetime, asked: VendorOrderRequest
) -> Outcome:
    """Turn one create-order reply into an outcome."""
    if 200 <= status < 300:
        try:
            order = _order_decoder.decode(body)
        except msgspec.DecodeError as exc:
            # The vendor said yes but we cannot read what it has: the order may well exist.
            return Unknown("server_error", f"undecodable {status} body: {exc}", status)
        if order.reference != asked.reference:
            # Another reference's order: not ours to settle by, nor proof ours does not exist.
            detail = f"answered our key with {order.id}, the order of another reference"
            return Unknown("unexpected_reply", detail[:DETAIL_LIMIT], status)
        held = (order.amount_minor, order.currency)
        if held != (asked.amount_minor, asked.currency):
            # Whatever a repeated key answers with, another order is never this one's success.
            detail = f"the vendor holds {order.id} under this key, for {held}"
            return Rejected(REFERENCE_CONFLICT, detail[:DETAIL_LIMIT], status, order.id)
        return answered(order.status, order.id, order.status, status, order.card)
    retry_after = retry_after_seconds(headers.get("Retry-After"), now)
    if status == 429:
        return Unknown("rate_limited", _error(status, body).code, status, retry_after)
    if status == 408:
        return Unknown("timeout", "vendor timed out reading the request", status, retry_after)
    if status >= 500:
        return Unknown("server_error", _error(status, body).code, status, retry_after)
    if 400 <= status < 500:
        err = _error(status, body)
        if status == 409 and err.code == "idempotency_key_in_use":
            # The first attempt with this key is still running at the vendor and may yet succeed;
            # calling it rejected would fail an order the vendor fulfils. It asks us to come back
            # later, which is what a rate limit asks, so it is retried the same way.
            return Unknown("rate_limited", err.code, status, retry_after)
        business = status in (400, 422) and err.code in BUSINESS_CODES
        return Rejected(err.code, err.message[:DETAIL_LIMIT], status, business=business)
    # Redirects are not followed (a POST must not silently turn into a GET) and 1xx never ends a
    # response: neither says whether the order exists.
    return Unknown("server_error", f"unexpected status {status}", status)


class RestVendorAdapter(HttpVendor):
    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        api_key: str | None,
        attempt_timeout: float,
        key_retention: timedelta,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        bearer = f"Bearer {api_key}" if api_key else None
        super().__init__(name, base_url, session, bearer, attempt_timeout, key_retention, clock)

    async def create_order(self, req: VendorOrderRequest) -> Outcome:
        body = _encoder.encode(WireCreateOrder(**msgspec.structs.asdict(req)))
        return await self._attempt(
            "/v1/orders",
            lambda status, headers, answer, now: classify(status, headers, answer, now, req),
            body,
            {"Idempotency-Key": req.reference},
        )

    async def _get(self, path: str, params: dict[str, str]) -> bytes:
        return await self._read(
            path, lambda status, payload: _error(status, payload).code, params=params
        )

    async def get_order(
        self, reference: str, vendor_order_id: str | None = None
    ) -> VendorOrderView | None:
        orders = decode_read(
            _orders_decoder, await self._get("/v1/orders", {"reference": reference})
        )
        if not orders:
            return None
        if len(orders) > 1:
            # A duplicate at the vendor is reconciliation's finding to report; the lookup answers
            # with the first order so every caller settles on the same one.
            log.warning("vendor_duplicate_reference", vendor=self.name, count=len(orders))
        return to_view(min(orders, key=lambda o: (o.created_at, o.id)))

    async def list_transactions(
        self, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> TransactionPage:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("transaction window bounds must be timezone-aware")
        params = {"from": iso_utc(start), "to": iso_utc(end), "limit": str(limit)}
        if cursor is not None:
            params["cursor"] = cursor
        page = decode_read(_page_decoder, await self._get("/v1/transactions", params))
        return TransactionPage([to_view(o) for o in page.data], page.next_cursor)
