"""Tremendous' records as ours: statuses, amounts and the link, read from its wire types. Pure."""

from __future__ import annotations

from ledger.vendors.base import (
    CardSecret,
    VendorOrderView,
    VendorStatus,
    VendorUnavailable,
    vendor_amount,
)
from ledger.vendors.transport import DETAIL_LIMIT
from ledger.vendors.tremendous import wire

# Tremendous' order statuses as ours. CART became OPEN in February 2026; both are accepted. An
# order canceled before it executed (an approval refused) was never charged: failed.
_STATUSES: dict[str, VendorStatus] = {
    "EXECUTED": "fulfilled",
    "OPEN": "pending",
    "CART": "pending",
    "PENDING APPROVAL": "pending",
    "PENDING INTERNAL PAYMENT APPROVAL": "pending",
    "PENDING SETTLEMENT": "pending",
    "FAILED": "failed",
    "CANCELED": "failed",
}


def order_status(status: str) -> VendorStatus | None:
    return _STATUSES.get(status.upper())


def order_value(order: wire.Order) -> tuple[int, str] | None:
    """(minor units, currency) of the order's one reward, or None when it cannot be read."""
    if len(order.rewards) != 1 or order.rewards[0].value is None:
        return None
    value = order.rewards[0].value
    return vendor_amount(value.denomination, value.currency_code)


def card_of(order: wire.Order) -> CardSecret | None:
    """Tremendous hands out a redemption link, never a code or PIN: the link is the code."""
    delivery = order.rewards[0].delivery if order.rewards else None
    link = delivery.link if delivery is not None else None
    return CardSecret(link, None, link) if link else None


def to_view(order: wire.Order, card: CardSecret | None = None) -> VendorOrderView:
    """Tremendous' record as ours; raises VendorUnavailable for one we cannot read (a listing
    must stop on it rather than reconcile around it)."""
    status = order_status(order.status)
    held = order_value(order)
    if status is None or held is None or not order.external_id:
        detail = f"order {order.id}: status {order.status!r}, one readable reward, external_id"
        raise VendorUnavailable("bad_response", detail[:DETAIL_LIMIT], http_status=200)
    return VendorOrderView(
        vendor_order_id=order.id,
        reference=order.external_id,
        status=status,
        amount_minor=held[0],
        currency=held[1],
        created_at=order.created_at,
        # Tremendous keeps no change time on an order: its creation is the only one it tells.
        updated_at=order.created_at,
        card=card or card_of(order),
    )
