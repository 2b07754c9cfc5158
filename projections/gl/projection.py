"""The GL projection: each order's GL state, its postings (moves), and the closed days.

Daily totals and journals are sums over postings (projections/gl/postings.py); storing moves rather
than totals keeps a closed day's figures fixed: nothing posts to it after it closes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log.store import RecordedEvent
from ledger.orders.model import OrderState, evolve
from projections.base import Table
from projections.gl.postings import (
    DEFAULT_CHART,
    Entry,
    Posting,
    business_date,
    is_correction,
    occurred_at,
    open_date,
    place,
)

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
_DAILY_ROWS = """
    SELECT concat_ws('|', posting_date, currency, coalesce(client_id, ''), coalesce(from_state, ''),
                     to_state),
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
_STATUS_EVENTS = {
    "OrderRequested",
    "VendorResponseReceived",
    "OrderFulfilled",
    "OrderFailed",
    "OrderRefunded",
}
# Only status changes matter to the GL; other events never move an order between states.
_HANDLED = {*_STATUS_EVENTS, "GLDayClosed"}
_state_decoder = msgspec.json.Decoder(OrderState)


class GLProjection:
    name = "gl"
    tables: tuple[Table, ...] = (GL_ORDERS, GL_POSTINGS, GL_CLOSED, GL_DAILY)

    def __init__(self, tz: str = "UTC", chart: Mapping[str, Entry | None] = DEFAULT_CHART):
        self.tz, self.chart = ZoneInfo(tz), dict(chart)
        # The zone and the chart shape every row: changing either rebuilds the projection.
        self.revision = hashlib.sha256(f"{tz}:{sorted(self.chart.items())}".encode()).hexdigest()

    async def apply(
        self, conn: asyncpg.Connection, names: Mapping[str, str], events: Sequence[RecordedEvent]
    ) -> None:
        relevant = [e for e in events if e.type in _HANDLED]
        if not relevant:
            return
        streams = list({e.stream_id for e in relevant if e.stream_id.startswith("order:")})
        orders: dict[str, tuple] = {
            r["stream_id"]: (r["origin_date"], _state_decoder.decode(r["state"]))
            for r in await conn.fetch(
                f"SELECT * FROM {names['gl_orders']} WHERE stream_id = ANY($1)", streams
            )
        }
        closed = {
            r[0] for r in await conn.fetch(f"SELECT business_date FROM {names['gl_closed_days']}")
        }
        postings: list[tuple] = []
        touched: set[str] = set()
        for recorded in relevant:
            event = recorded.decode()
            if isinstance(event, ev.GLDayClosed):
                await self._write(conn, names, orders, touched, postings)
                await self._close(conn, names, event, closed)
                continue
            if not recorded.stream_id.startswith("order:"):
                continue
            origin, before = orders.get(recorded.stream_id, (None, None))
            after = evolve(
                before, event, recorded.stream_id, recorded.version, recorded.recorded_at
            )
            if after is None:
                continue
            touched.add(recorded.stream_id)
            moved_from = before.status if before else None
            if after.status != moved_from and recorded.type in _STATUS_EVENTS:
                natural = business_date(occurred_at(event) or recorded.recorded_at, self.tz)
                origin = origin or natural
                posted, adjusts = place(natural, origin, closed, correction=is_correction(event))
                posting = Posting(
                    id=f"{recorded.stream_id}:{recorded.version}",
                    posting_date=posted,
                    currency=after.currency,
                    from_state=moved_from,
                    to_state=after.status,
                    amount_minor=after.amount_minor,
                    adjustment_of=adjusts,
                )
                postings.append(
                    (
                        *msgspec.structs.astuple(posting),
                        recorded.tx_id,
                        recorded.position,
                        after.client_id,
                    )
                )
            orders[recorded.stream_id] = (origin, after)
        await self._write(conn, names, orders, touched, postings)

    async def _write(self, conn, names, orders, touched: set[str], postings: list[tuple]) -> None:
        if touched:
            rows = [(s, orders[s][0], msgspec.json.encode(orders[s][1])) for s in sorted(touched)]
            await conn.execute(GL_ORDERS.upsert_sql(names["gl_orders"]), *zip(*rows, strict=True))
        if postings:
            # Only postings new to the table count into the daily sums, so that applying an
            # event twice could never count its move twice.
            columns = ", ".join(name for name, _ in GL_POSTINGS.columns)
            arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(GL_POSTINGS.columns, 1))
            daily = names["gl_daily"]
            await conn.execute(
                f"""WITH moved AS (
                        INSERT INTO {names["gl_postings"]} ({columns})
                        SELECT * FROM unnest({arrays}) ON CONFLICT (id) DO NOTHING
                        RETURNING *)
                    INSERT INTO {daily} {_DAILY_ROWS}
                    ON CONFLICT (id) DO UPDATE SET
                        count = {daily}.count + EXCLUDED.count,
                        amount_minor = {daily}.amount_minor + EXCLUDED.amount_minor,
                        adjustment_count = {daily}.adjustment_count + EXCLUDED.adjustment_count,
                        adjustment_minor = {daily}.adjustment_minor + EXCLUDED.adjustment_minor""",
                *zip(*postings, strict=True),
            )
        touched.clear()
        postings.clear()

    async def _close(self, conn, names, event: ev.GLDayClosed, closed: set) -> None:
        """Mark the day closed; moves of that day applied after its totals were read move on."""
        day = event.business_date
        closed.add(day)
        row = (day, event.upto_tx_id, event.upto_position, event.closed_at)
        await conn.execute(GL_CLOSED.upsert_sql(names["gl_closed_days"]), *([v] for v in row))
        moved_to = open_date(day, closed)
        moved = await conn.fetchval(
            f"""WITH moved AS (
                    UPDATE {names["gl_postings"]}
                    SET posting_date = $2, adjustment_of = coalesce(adjustment_of, $1)
                    WHERE posting_date = $1 AND (tx_id, position) > ($3, $4) RETURNING 1)
                SELECT count(*) FROM moved""",
            day,
            moved_to,
            event.upto_tx_id,
            event.upto_position,
        )
        if moved:
            # Both days' sums change; a close is once a day, so they are summed afresh from
            # the two days' postings rather than adjusted move by move.
            daily = names["gl_daily"]
            await conn.execute(f"DELETE FROM {daily} WHERE posting_date IN ($1, $2)", day, moved_to)
            await conn.execute(
                f"""WITH moved AS (SELECT * FROM {names["gl_postings"]}
                                   WHERE posting_date IN ($1, $2))
                    INSERT INTO {daily} {_DAILY_ROWS}""",
                day,
                moved_to,
            )
