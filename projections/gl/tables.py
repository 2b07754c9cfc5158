"""The GL projection's tables, its order rows, and the SQL that sums postings per day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import NamedTuple

import asyncpg
import msgspec

from ledger.orders.model import OrderState
from projections.base import Row, Table
from projections.gl.postings import ClosedDays

GL_ORDERS = Table(
    name="gl_orders",
    columns=(("stream_id", "text"), ("origin_date", "date"), ("state", "bytea")),
)
GL_POSTINGS = Table(
    name="gl_postings",
    columns=(
        ("id", "text"),
        ("posting_date", "date"),
        ("currency", "text"),
        ("from_state", "text"),
        ("to_state", "text"),
        ("amount_minor", "bigint"),
        ("adjustment_of", "date"),
        ("tx_id", "bigint"),
        ("position", "bigint"),
        # Whose order moved: finance:read keys see their own client's GL (ledger.auth).
        ("client_id", "text"),
    ),
    indexes=("posting_date, currency", "client_id, posting_date"),
)
# Postings summed per day, currency, client and move: the daily report reads these, never the
# postings, so its cost follows the days it covers (and the days before, for the opening
# balances), not the number of postings in the history.
GL_DAILY = Table(
    name="gl_daily",
    columns=(
        ("id", "text"),  # posting_date|currency|client_id|from_state|to_state
        ("posting_date", "date"),
        ("currency", "text"),
        ("client_id", "text"),
        ("from_state", "text"),
        ("to_state", "text"),
        ("count", "bigint"),
        ("amount_minor", "bigint"),
        ("adjustment_count", "bigint"),
        ("adjustment_minor", "bigint"),
    ),
    indexes=("posting_date, currency",),
)
# The daily rows of the postings a query yields (as `moved`), in gl_daily's columns.
DAILY_ROWS = """
    SELECT concat_ws('|', to_char(posting_date, 'YYYY-MM-DD'), currency, coalesce(client_id, ''),
                     coalesce(from_state, ''), to_state),
           posting_date, currency, client_id, from_state, to_state, count(*),
           sum(amount_minor), count(adjustment_of),
           coalesce(sum(amount_minor) FILTER (WHERE adjustment_of IS NOT NULL), 0)
    FROM moved GROUP BY posting_date, currency, client_id, from_state, to_state"""
GL_CLOSED = Table(
    name="gl_closed_days",
    columns=(
        ("business_date", "date"),
        ("upto_tx_id", "bigint"),
        ("upto_position", "bigint"),
        ("closed_at", "timestamptz"),
    ),
)
_state_decoder = msgspec.json.Decoder(OrderState)


class GLOrder(NamedTuple):
    """An order as the GL holds it: the business date it started on, and its state."""

    stream_id: str
    origin_date: date | None
    state: OrderState


def order_from_row(row: Row) -> GLOrder:
    return GLOrder(row[0], row[1], _state_decoder.decode(row[2]))


def order_to_row(order: GLOrder | None) -> Row:
    assert order is not None  # only folded orders are written
    return (order.stream_id, order.origin_date, msgspec.json.encode(order.state))


async def closed_days(conn: asyncpg.Connection, names: Mapping[str, str]) -> ClosedDays:
    rows = await conn.fetch(f"SELECT business_date FROM {names['gl_closed_days']}")
    return ClosedDays(r[0] for r in rows)


def daily_sums_sql(names: Mapping[str, str], where: str) -> str:
    """Insert gl_daily's rows for the postings that match `where`, summed from scratch."""
    return f"""WITH moved AS (SELECT * FROM {names["gl_postings"]} WHERE {where})
               INSERT INTO {names["gl_daily"]} {DAILY_ROWS}"""
