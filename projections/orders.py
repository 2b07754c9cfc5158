"""The order read model: one row per order stream, the fold of ledger.orders.model.evolve."""

from __future__ import annotations

import msgspec

from ledger.log.store import RecordedEvent
from ledger.orders.model import OrderState, evolve_recorded
from projections.base import KeyedProjection, Row, Table

ORDERS_TABLE = Table(
    name="orders_view",
    columns=(
        ("stream_id", "text"),
        ("client_id", "text"),
        ("idempotency_key", "text"),
        ("customer_id", "text"),
        ("brand_id", "text"),
        ("amount_minor", "bigint"),
        ("currency", "text"),
        ("fingerprint", "text"),
        ("vendor", "text"),
        ("vendor_reference", "text"),
        ("source", "text"),
        ("batch_id", "text"),
        ("status", "text"),
        ("vendor_order_id", "text"),
        ("failure_reason", "text"),
        ("refunded_minor", "bigint"),
        ("attempts", "integer"),
        ("unanswered_attempt", "boolean"),
        ("card_stored", "boolean"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
        ("version", "integer"),
        ("next_attempt_at", "timestamptz"),
        ("retries", "integer"),
        ("hint_pending", "boolean"),
        ("uncertain", "boolean"),
    ),
    indexes=(
        "status, updated_at",
        "client_id, created_at",
        "vendor_reference",
        "next_attempt_at",
        "vendor, vendor_order_id",  # webhooks that name an order by the vendor's id only
    ),
)


class OrdersProjection(KeyedProjection):
    name = "orders"
    table = ORDERS_TABLE

    def key_of(self, event: RecordedEvent) -> str | None:
        return event.stream_id if event.stream_id.startswith("order:") else None

    def fold(self, state: OrderState | None, event: RecordedEvent) -> OrderState | None:
        return evolve_recorded(state, event)

    def from_row(self, row: Row) -> OrderState:
        return OrderState(*row)

    def to_row(self, value: OrderState) -> Row:
        return msgspec.structs.astuple(value)
