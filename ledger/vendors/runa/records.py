"""Runa's records as ours: statuses, amounts, our reference (from the order's metadata) and
the payout link. Pure."""

from __future__ import annotations

from ledger.vendors.base import (
    CardSecret,
    VendorOrderView,
    VendorStatus,
    VendorUnavailable,
    vendor_amount,
)
from ledger.vendors.runa import wire
from ledger.vendors.transport import DETAIL_LIMIT

STATUSES: dict[str, VendorStatus] = {
    "COMPLETED": "fulfilled",
    "PROCESSING": "pending",
    "FAILED": "failed",
}
# Where our reference travels in an order (Runa keeps no external reference of its own).
REFERENCE_KEY = "reference"


def face_value(order: wire.Order) -> tuple[int, str] | None:
    if len(order.items) != 1:
        return None
    item = order.items[0]
    return vendor_amount(item.face_value, item.currency or order.currency)


def card_of(order: wire.Order) -> CardSecret | None:
    """Runa hands out a payout link, never a code or PIN: the link is the code."""
    payout = order.items[0].payout if order.items else None
    url = payout.url if payout is not None else None
    return CardSecret(url, None, url) if url else None


def to_view(order: wire.Order) -> VendorOrderView:
    """Runa's record as ours; raises VendorUnavailable for one we cannot read (a listing must
    stop on it rather than reconcile around it)."""
    status = STATUSES.get(order.status)
    held = face_value(order)
    reference = order.metadata.get(REFERENCE_KEY)
    if status is None or held is None or order.created_at is None or not reference:
        detail = f"order {order.id}: status {order.status!r}, one readable item, our reference"
        raise VendorUnavailable("bad_response", detail[:DETAIL_LIMIT], http_status=200)
    return VendorOrderView(
        vendor_order_id=order.id,
        reference=reference,
        status=status,
        amount_minor=held[0],
        currency=held[1],
        created_at=order.created_at,
        # Runa's completed_at is when it finished, not a change time: creation it is.
        updated_at=order.created_at,
        card=card_of(order),
    )
