"""Reloadly's records as ours: statuses, amounts, times and the card. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger.vendors.base import (
    CardSecret,
    VendorOrderView,
    VendorStatus,
    VendorUnavailable,
    vendor_amount,
)
from ledger.vendors.reloadly import wire
from ledger.vendors.transport import DETAIL_LIMIT

STATUSES: dict[str, VendorStatus] = {
    "SUCCESSFUL": "fulfilled",
    "PENDING": "pending",
    "PROCESSING": "pending",
    "FAILED": "failed",
    "REFUNDED": "refunded",
}


def reloadly_time(stamp: str) -> datetime:
    return datetime.strptime(stamp, wire.STAMP).replace(tzinfo=UTC)


def reloadly_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(wire.STAMP)


def face_value(transaction: wire.Transaction) -> tuple[int, str] | None:
    """(minor units, currency) of one card's face value, in the product's currency."""
    product = transaction.product
    if product.quantity != 1:
        return None
    return vendor_amount(product.unit_price, product.currency_code)


def card_of(cards: list[wire.Card]) -> CardSecret | None:
    first = cards[0] if cards else None
    if first is None or not first.card_number:
        return None
    return CardSecret(first.card_number, first.pin_code or None)


def to_view(transaction: wire.Transaction, card: CardSecret | None = None) -> VendorOrderView:
    status = STATUSES.get(transaction.status)
    held = face_value(transaction)
    try:
        created = reloadly_time(transaction.transaction_created_time)
    except ValueError:
        created = None
    if status is None or held is None or created is None or not transaction.custom_identifier:
        detail = f"transaction {transaction.transaction_id}: status {transaction.status!r}"
        raise VendorUnavailable("bad_response", detail[:DETAIL_LIMIT], http_status=200)
    return VendorOrderView(
        vendor_order_id=str(transaction.transaction_id),
        reference=transaction.custom_identifier,
        status=status,
        amount_minor=held[0],
        currency=held[1],
        created_at=created,
        # Reloadly keeps no change time on a transaction: its creation is the only one it tells.
        updated_at=created,
        card=card,
    )
