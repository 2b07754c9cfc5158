"""The Reloadly adapter: our order as one card keyed by `customIdentifier`, with an OAuth2
token that is cached, renewed before it expires, and refreshed once on a 401 (never taken for
the vendor's refusal); look-ups and listings through its transaction reports; the card from
the transaction's cards.

What Reloadly does with a repeated customIdentifier is undocumented, so nothing here relies on
it: the adapter's defaults (key retention 0, one attempt per step) make every step after an
unanswered attempt a look-up first, and only a look-up that finds nothing sends it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

import aiohttp
import msgspec

from ledger.money import format_minor
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
    VendorUnavailable,
    unmapped_brand,
)
from ledger.vendors.reloadly import wire
from ledger.vendors.reloadly.classify import TOKEN_ERRORS, Asked, classify, error_code
from ledger.vendors.reloadly.records import card_of, reloadly_stamp, to_view
from ledger.vendors.reloadly.tokens import TokenSource
from ledger.vendors.transport import HttpVendor, decode_read, offset_cursor, utcnow

DEFAULT_AUTH_URL = "https://auth.reloadly.com/oauth/token"


class ReloadlyAccount(NamedTuple):
    client_id: str
    client_secret: str
    auth_url: str
    sender_name: str
    recipient_email: str


class ReloadlyAdapter(HttpVendor):
    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        account: ReloadlyAccount,
        products: Mapping[str, str],
        attempt_timeout: float,
        key_retention: timedelta,
        *,
        first_page: int = 0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(name, base_url, session, None, attempt_timeout, key_retention, clock)
        self._headers["Accept"] = wire.MEDIA_TYPE
        # The token's audience is the API it is for: the sandbox's or production's base URL.
        request = wire.TokenRequest(account.client_id, account.client_secret, self._base)
        self.tokens = TokenSource(session, account.auth_url, request, self._timeout, clock)
        self._account = account
        self._products = dict(products)
        self._first_page = first_page

    async def create_order(self, req: VendorOrderRequest) -> Outcome:
        product = self._products.get(req.brand_id, "")
        if not (product.isascii() and product.isdigit()):
            return unmapped_brand(req.brand_id, "productId")
        order = wire.OrderRequest(
            product_id=int(product),
            quantity=1,
            unit_price=Decimal(format_minor(req.amount_minor, req.currency)),
            custom_identifier=req.reference,
            sender_name=self._account.sender_name,
            recipient_email=self._account.recipient_email,
        )
        asked = Asked(int(product), req.amount_minor, req.currency)
        body = wire.encoder.encode(order)
        for renewed in (False, True):
            try:
                token = await self.tokens.token()
            except VendorUnavailable as exc:
                return _without_token(exc)  # nothing reached the order API
            outcome = await self._attempt(
                "/orders",
                lambda status, headers, answer, now: classify(status, headers, answer, asked, now),
                body,
                {"Authorization": f"Bearer {token}"},
            )
            token_refused = isinstance(outcome, Rejected) and outcome.http_status == 401
            if renewed or not token_refused or outcome.code not in TOKEN_ERRORS:
                break
            self.tokens.refused(token)  # refused before anything was ordered: send it again
        if isinstance(outcome, Fulfilled):
            try:
                card = await self._card(outcome.vendor_order_id)
            except VendorUnavailable:
                # The order is Reloadly's; its card is read by the look-up it is now due for.
                return Accepted(outcome.vendor_order_id, outcome.vendor_status)
            return msgspec.structs.replace(outcome, card=card)
        return outcome

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> bytes:
        """A read with the token, refreshed once when Reloadly says it is no longer good."""
        for renewed in (False, True):
            token = await self.tokens.token()
            try:
                headers = {"Authorization": f"Bearer {token}"}
                return await self._read(path, error_code, params=params, headers=headers)
            except VendorUnavailable as exc:
                if renewed or exc.http_status != 401 or exc.detail not in TOKEN_ERRORS:
                    raise
                self.tokens.refused(token)
        raise AssertionError("unreachable: the second try returns or raises")  # pragma: no cover

    async def _card(self, transaction_id: str) -> CardSecret | None:
        cards = await self._get(f"/orders/transactions/{transaction_id}/cards")
        return card_of(decode_read(wire.cards_decoder, cards))

    async def get_order(
        self, reference: str, vendor_order_id: str | None = None
    ) -> VendorOrderView | None:
        params = {"customIdentifier": reference, "page": str(self._first_page), "size": "10"}
        found = decode_read(wire.page_decoder, await self._get("/reports/transactions", params))
        if not found.content:
            return None
        first = min(found.content, key=lambda t: (t.transaction_created_time, t.transaction_id))
        card = await self._card(str(first.transaction_id)) if first.status == "SUCCESSFUL" else None
        return to_view(first, card)

    async def list_transactions(
        self, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> TransactionPage:
        """Transactions created in [start, end), page by page (Spring pages)."""
        page = offset_cursor(start, end, cursor, "Reloadly")
        params = {
            "startDate": reloadly_stamp(start),
            "endDate": reloadly_stamp(end),
            "page": str(self._first_page + page),
            "size": str(limit),
        }
        listed = decode_read(wire.page_decoder, await self._get("/reports/transactions", params))
        records = [to_view(t) for t in listed.content]
        records = [r for r in records if start <= r.created_at < end]
        more = page + 1 < listed.total_pages
        return TransactionPage(records, str(page + 1) if more else None)


def _without_token(exc: VendorUnavailable) -> Outcome:
    """No token, so no order was sent: the token endpoint refusing our credentials is a
    configuration fault (not a verdict on the order); anything else is worth trying again."""
    if exc.http_status in (400, 401, 403):
        return Rejected("token_refused", exc.detail, exc.http_status, business=False)
    reason = exc.reason if exc.reason in ("timeout", "connection") else "server_error"
    return Unknown(reason, f"token: {exc.detail}"[:200], exc.http_status, exc.retry_after)
