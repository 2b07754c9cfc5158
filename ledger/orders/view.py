"""An order as the API shows it: the body of GET /api/v1/orders/{key}, and the `data` of the
merchant's order webhooks (which never carry the card: fetching the order gives it to its
owner)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from ledger.money import format_minor
from ledger.orders.model import OrderState


class Card(msgspec.Struct):
    code: str
    pin: str | None = None
    url: str | None = None


class Order(msgspec.Struct):
    idempotency_key: str
    status: Literal["pending", "fulfilled", "failed", "refunded"]
    amount: str
    currency: str
    customer_id: str
    brand_id: str
    vendor: str
    vendor_order_id: str | None
    card: Card | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime


def order_view(state: OrderState, card: Card | None) -> Order:
    return Order(
        idempotency_key=state.idempotency_key,
        status=state.status,
        amount=format_minor(state.amount_minor, state.currency),
        currency=state.currency,
        customer_id=state.customer_id,
        brand_id=state.brand_id,
        vendor=state.vendor,
        vendor_order_id=state.vendor_order_id,
        card=card,
        failure_reason=state.failure_reason,
        created_at=state.created_at,
        updated_at=state.updated_at,
    )
