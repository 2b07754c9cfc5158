"""Tango's records as ours: statuses, amounts and the card, read from its wire types. Pure."""

from __future__ import annotations

from ledger.vendors.base import (
    CardSecret,
    VendorOrderView,
    VendorStatus,
    VendorUnavailable,
    vendor_amount,
)
from ledger.vendors.tango import wire
from ledger.vendors.transport import DETAIL_LIMIT

# Tango's order statuses as ours. PARTIAL (some line items failed) still has the order: it is
# pending on our side until a look-up says more. Both spellings of cancelled are accepted.
_STATUSES: dict[str, VendorStatus] = {
    "COMPLETE": "fulfilled",
    "PENDING": "pending",
    "PARTIAL": "pending",
    "FAILED": "failed",
    "CANCELLED": "refunded",
    "CANCELED": "refunded",
}


def order_status(status: str) -> VendorStatus | None:
    return _STATUSES.get(status.upper())


def vendor_minor(money: wire.MoneyView | None) -> tuple[int, str] | None:
    """(minor units, currency) of a Tango amount, or None when it cannot be read."""
    return vendor_amount(money.value, money.currency_code) if money is not None else None


def to_view(order: wire.OrderView, reference: str | None = None) -> VendorOrderView:
    """Tango's record as ours; raises VendorUnavailable for one we cannot read (a listing must
    stop on it rather than reconcile around it)."""
    status = order_status(order.status)
    held = vendor_minor(order.denomination or order.amount_charged)
    if status is None or held is None:
        detail = f"order {order.reference_order_id}: status {order.status!r}, amount unreadable"
        raise VendorUnavailable("bad_response", detail[:DETAIL_LIMIT], http_status=200)
    return VendorOrderView(
        vendor_order_id=order.reference_order_id,
        reference=order.external_ref_id or reference or "",
        status=status,
        amount_minor=held[0],
        currency=held[1],
        created_at=order.created_at,
        # Tango keeps no change time on an order: its creation is the only one it tells.
        updated_at=order.created_at,
        card=card_of(order.reward),
    )


def card_of(reward: wire.RewardView | None) -> CardSecret | None:
    """The card from the typed credential list (labels vary by brand; types do not), else
    from the legacy label map. A link-only reward's code is its redemption URL."""
    if reward is None:
        return None
    typed = {c.credential_type: c.value for c in reward.credential_list if c.value}
    labels = {label.lower(): value for label, value in reward.credentials.items() if value}
    number = typed.get("cardNumber") or labels.get("card number")
    pin = typed.get("cardPin") or labels.get("pin")
    url = typed.get("redemptionUrl") or labels.get("redemption url")
    code = number or url
    return CardSecret(code, pin, url) if code else None
