"""Adapter for vendors speaking the sandbox's REST dialect (the sandbox is the default vendor).

One HTTP attempt per call. Every way an attempt can go wrong is classified, never raised: the
caller must be able to tell "the vendor refused" (terminal) from "we do not know" (retry with the
same key, or look the order up by reference).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Annotated

import aiohttp
import msgspec
import structlog
from msgspec import Meta

from ledger.vendors.base import (
    Accepted,
    CardSecret,
    Fulfilled,
    Outcome,
    Rejected,
    TransactionPage,
    Unknown,
    VendorOrderRequest,
    VendorOrderView,
    VendorStatus,
    VendorUnavailable,
)

log = structlog.get_logger(__name__)

# Vendor error bodies and odd replies are quoted in outcomes and events; a bound keeps a vendor
# returning an HTML error page from bloating the log.
DETAIL_LIMIT = 200
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


# Vendor data is validated at the edge, before it can become an event: a NUL byte or an
# integer past PostgreSQL's bigint would be appended without trouble and then fail every
# projection batch that reads it, for ever. Bounds as ledger.reconciliation.file_format's.
VendorId = Annotated[str, Meta(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
VendorMinor = Annotated[int, Meta(ge=0, lt=10**15)]
VendorCurrency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]


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


class WireTransactionPage(msgspec.Struct, frozen=True):
    data: list[WireOrder]
    next_cursor: str | None = None


_encoder = msgspec.json.Encoder()
_order_decoder = msgspec.json.Decoder(WireOrder)
_orders_decoder = msgspec.json.Decoder(list[WireOrder])
_page_decoder = msgspec.json.Decoder(WireTransactionPage)
_error_decoder = msgspec.json.Decoder(WireError)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def to_view(order: WireOrder) -> VendorOrderView:
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
        # Not the vendor's error type: it could be anything, the order and its card echoed back
        # included, and what is quoted here goes into the permanent log. Only its size and a
        # digest (to match it against the vendor's own logs) are kept.
        digest = hashlib.sha256(body).hexdigest()
        return WireErrorBody(f"http_{status}", f"{len(body)}-byte body, sha256 {digest}")


def classify(status: int, headers: Mapping[str, str], body: bytes, now: datetime) -> Outcome:
    """Turn one create-order reply into an outcome."""
    if 200 <= status < 300:
        try:
            order = _order_decoder.decode(body)
        except msgspec.DecodeError as exc:
            # The vendor said yes but we cannot read what it has: the order may well exist.
            return Unknown("server_error", f"undecodable {status} body: {exc}", status)
        if order.status == "pending":
            return Accepted(order.id, order.status)
        if order.status == "failed":
            return Rejected("vendor_failed", "vendor reports the order failed", status, order.id)
        # fulfilled, or refunded on a replay of an order refunded since: either way the vendor
        # charged and finished it; vendor_status carries which.
        return Fulfilled(order.id, order.status, order.card)
    retry_after = parse_retry_after(headers.get("Retry-After"), now)
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


class RestVendorAdapter:
    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        api_key: str | None,
        attempt_timeout: float,
        key_retention: timedelta,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.name = name
        self.key_retention = key_retention
        self._base = base_url.rstrip("/")
        self._session = session
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=attempt_timeout)
        self._clock = clock

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def create_order(self, req: VendorOrderRequest) -> Outcome:
        body = _encoder.encode(WireCreateOrder(**msgspec.structs.asdict(req)))
        try:
            async with self._session.post(
                f"{self._base}/v1/orders",
                data=body,
                headers=self._headers(req.reference),
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                payload = await resp.read()
                return classify(resp.status, resp.headers, payload, self._clock())
        # TimeoutError first: aiohttp's timeout errors also subclass ClientConnectionError.
        except TimeoutError as exc:
            return Unknown("timeout", f"no reply within {self._timeout.total}s: {exc!r}")
        except aiohttp.ClientError as exc:
            return Unknown("connection", f"{type(exc).__name__}: {exc}"[:DETAIL_LIMIT])

    async def _get(self, path: str, params: dict[str, str]) -> bytes:
        try:
            async with self._session.get(
                f"{self._base}{path}",
                params=params,
                headers=self._headers(),
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                payload = await resp.read()
                if resp.status == 200:
                    return payload
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), self._clock())
                raise VendorUnavailable(
                    f"http_{resp.status}",
                    _error(resp.status, payload).code,
                    http_status=resp.status,
                    retry_after=retry_after,
                )
        except TimeoutError as exc:
            raise VendorUnavailable("timeout", repr(exc)) from exc
        except aiohttp.ClientError as exc:
            raise VendorUnavailable("connection", f"{type(exc).__name__}: {exc}") from exc

    async def get_order(self, reference: str) -> VendorOrderView | None:
        body = await self._get("/v1/orders", {"reference": reference})
        try:
            orders = _orders_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise VendorUnavailable("bad_response", str(exc), http_status=200) from exc
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
        params = {"from": _iso(start), "to": _iso(end), "limit": str(limit)}
        if cursor is not None:
            params["cursor"] = cursor
        body = await self._get("/v1/transactions", params)
        try:
            page = _page_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise VendorUnavailable("bad_response", str(exc), http_status=200) from exc
        return TransactionPage([to_view(o) for o in page.data], page.next_cursor)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
