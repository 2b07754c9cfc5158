"""The order read model: one row per order stream, the fold of ledger.orders.model.evolve."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
        ("first_sent_at", "timestamptz"),
        ("held_at_vendor", "boolean"),
    ),
    indexes=(
        "status, updated_at",
        # The order list (GET /api/v1/orders): one index per filter, each in the list's keyset
        # order, so a filtered page reads only its own rows, however many the client has.
        "client_id, created_at, stream_id",
        "client_id, status, created_at, stream_id",
        "client_id, customer_id, created_at, stream_id",
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


def order_list_query(
    client_id: str,
    *,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
    customer_id: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> tuple[Any, ...]:
    """SQL and arguments for one page of a client's orders, in (created_at, stream_id) order.

    Only the filters given appear in the SQL: `$n IS NULL OR ...` would make the cached generic
    plan one that fits every filter and none well (a status filter scanning every order of the
    client). Each combination is its own statement, prepared once per connection.
    """
    conditions, args = ["client_id = $1"], [client_id]

    def where(sql: str, *values: Any) -> None:
        placeholders = [f"${len(args) + i}" for i in range(1, len(values) + 1)]
        conditions.append(sql.format(*placeholders))
        args.extend(values)

    if status is not None:
        where("status = {}", status)
    if customer_id is not None:
        where("customer_id = {}", customer_id)
    if start is not None:
        where("created_at >= {}", start)
    if end is not None:
        where("created_at < {}", end)
    if after is not None:
        where("(created_at, stream_id) > ({}, {})", *after)
    args.append(limit)
    sql = (
        f"SELECT * FROM orders_view WHERE {' AND '.join(conditions)}"
        f" ORDER BY created_at, stream_id LIMIT ${len(args)}"
    )
    return (sql, *args)
