"""Pure order logic: the state an order's events fold into. No I/O, no clock, no ids.

Time comes from the recorded events themselves, which is what makes a rebuild reproduce the
same rows byte for byte.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from ledger import events as ev

Status = Literal["pending", "fulfilled", "failed", "refunded"]
TERMINAL: frozenset[str] = frozenset({"fulfilled", "failed", "refunded"})


class OrderState(msgspec.Struct, frozen=True):
    """One row of the order read model; field order is the table's column order."""

    stream_id: str
    client_id: str
    idempotency_key: str
    customer_id: str
    brand_id: str
    amount_minor: int
    currency: str
    fingerprint: str
    vendor: str
    vendor_reference: str
    source: str
    batch_id: str | None
    status: Status
    vendor_order_id: str | None
    failure_reason: str | None
    refunded_minor: int
    # Attempts sent; an attempt with no recorded outcome means the vendor may have the order.
    attempts: int
    unanswered_attempt: bool
    card_stored: bool
    created_at: datetime
    updated_at: datetime
    version: int


def order_stream(client_id: str, idempotency_key: str) -> str:
    return f"order:{client_id}:{idempotency_key}"


def _started(event: ev.OrderRequested, stream_id: str, at: datetime) -> OrderState:
    return OrderState(
        stream_id=stream_id,
        client_id=event.client_id,
        idempotency_key=event.idempotency_key,
        customer_id=event.customer_id,
        brand_id=event.brand_id,
        amount_minor=event.amount_minor,
        currency=event.currency,
        fingerprint=event.fingerprint,
        vendor=event.vendor,
        vendor_reference=event.vendor_reference,
        source=event.source,
        batch_id=event.batch_id,
        status="pending",
        vendor_order_id=None,
        failure_reason=None,
        refunded_minor=0,
        attempts=0,
        unanswered_attempt=False,
        card_stored=False,
        created_at=at,
        updated_at=at,
        version=1,
    )


def _settle(state: OrderState, status: Status, **changes: object) -> dict[str, object]:
    """Changes for a status move; a terminal order never goes back to pending."""
    if state.status in TERMINAL and status == "pending":
        return changes
    return {"status": status, **changes}


def evolve(
    state: OrderState | None, event: ev.AnyEvent, stream_id: str, version: int, at: datetime
) -> OrderState | None:
    """Fold one event of an order stream into the order's state."""
    if state is None:
        if isinstance(event, ev.OrderRequested):
            return _started(event, stream_id, at)
        return None  # an order stream always starts with OrderRequested
    changes: dict[str, object] = {}
    match event:
        case ev.VendorRequestSent():
            changes = {"attempts": state.attempts + 1, "unanswered_attempt": True}
        case ev.VendorCallFailed():
            changes = {"unanswered_attempt": False}
        case ev.VendorResponseReceived(outcome="fulfilled"):
            changes = _settle(
                state,
                "fulfilled",
                vendor_order_id=event.vendor_order_id or state.vendor_order_id,
                card_stored=state.card_stored or event.card_stored,
                unanswered_attempt=False,
            )
        case ev.VendorResponseReceived(outcome="accepted"):
            changes = {"vendor_order_id": event.vendor_order_id, "unanswered_attempt": False}
        case ev.VendorResponseReceived(outcome="rejected"):
            reason = event.code or event.message or "rejected by vendor"
            changes = _settle(state, "failed", failure_reason=reason, unanswered_attempt=False)
        case ev.VendorResponseReceived(outcome="not_found"):
            changes = {"unanswered_attempt": False}
        case ev.OrderFulfilled():
            vendor_order_id = event.vendor_order_id or state.vendor_order_id
            changes = _settle(state, "fulfilled", vendor_order_id=vendor_order_id)
        case ev.OrderFailed():
            changes = _settle(state, "failed", failure_reason=event.reason)
        case ev.OrderRefunded():
            changes = {"status": "refunded", "refunded_minor": event.amount_minor}
    if changes:
        changes["updated_at"] = at
    return msgspec.structs.replace(state, **changes, version=version)
