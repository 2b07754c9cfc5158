"""The vendor adapter protocol and the outcomes of one vendor call.

An adapter speaks one vendor's dialect; everything above it (retries, the circuit breaker, the
ledger's decisions) sees only these types. Outcomes are tagged so they can be encoded into events
and decoded back without guessing which variant a payload was.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, Protocol

import msgspec

VendorStatus = Literal["pending", "fulfilled", "failed", "refunded"]
UnknownReason = Literal["timeout", "connection", "server_error", "rate_limited", "circuit_open"]


class VendorOrderRequest(msgspec.Struct, frozen=True):
    """One order as we send it. `reference` is also the vendor idempotency key: every retry of
    the same order reuses it, which is what stops a retry from becoming a second charge."""

    reference: str
    amount_minor: int
    currency: str
    brand_id: str
    customer_id: str


class CardSecret(msgspec.Struct, frozen=True):
    """The redeemable card. Bearer value: whoever holds the code can spend it."""

    code: str
    pin: str | None = None
    url: str | None = None

    def __repr__(self) -> str:
        # Outcomes end up in log lines and tracebacks; the secret must never follow them there.
        return "CardSecret(<redacted>)"


class Fulfilled(msgspec.Struct, frozen=True, tag="fulfilled"):
    """The vendor has the order and it is finished (`vendor_status` says how, e.g. refunded)."""

    vendor_order_id: str
    vendor_status: str
    card: CardSecret | None = None


class Accepted(msgspec.Struct, frozen=True, tag="accepted"):
    """The vendor has the order but has not finished it: still pending on our side."""

    vendor_order_id: str
    vendor_status: str


class Rejected(msgspec.Struct, frozen=True, tag="rejected"):
    """A terminal answer: the vendor refused or failed the order. Retrying cannot change it."""

    code: str
    message: str
    http_status: int
    vendor_order_id: str | None = None


class Unknown(msgspec.Struct, frozen=True, tag="unknown"):
    """Ambiguous: the vendor may or may not have the order. Only a retry with the same
    reference, or a lookup by reference, can settle it."""

    reason: UnknownReason
    detail: str
    http_status: int | None = None
    retry_after: float | None = None


Outcome = Fulfilled | Accepted | Rejected | Unknown


class VendorOrderView(msgspec.Struct, frozen=True):
    """The vendor's record of an order, as read back (lookup, reconciliation)."""

    vendor_order_id: str
    reference: str
    status: VendorStatus
    amount_minor: int
    currency: str
    created_at: datetime
    updated_at: datetime
    card: CardSecret | None = None


class TransactionPage(msgspec.Struct, frozen=True):
    records: list[VendorOrderView]
    next_cursor: str | None


class VendorUnavailable(Exception):
    """A read could not be answered (timeout, connection, 5xx, 429, unexpected reply).

    Distinct from "no such order": a lookup that fails must never be mistaken for absence, or the
    caller would resubmit an order the vendor already has.
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.http_status = http_status
        self.retry_after = retry_after


class VendorAdapter(Protocol):
    name: str
    # How long the vendor remembers an idempotency key. Past it, a resubmission with the same key
    # can create a second order, so callers must look the order up by reference first.
    key_retention: timedelta

    async def create_order(self, req: VendorOrderRequest) -> Outcome:
        """Exactly one attempt. Never raises for HTTP or network trouble: it classifies it."""
        ...

    async def get_order(self, reference: str) -> VendorOrderView | None:
        """None when the vendor has no order with this reference; raises VendorUnavailable
        when it cannot tell."""
        ...

    async def list_transactions(
        self, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> TransactionPage: ...
