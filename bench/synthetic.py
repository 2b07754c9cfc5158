"""Synthetic order streams for the benchmarks, bulk-inserted in SQL and chained as appends are.

A 4-event history per order (requested, sent, fulfilled, replayed), or a 2-event one (requested,
refused by the vendor) for a failed order: nothing a running service would still work on.
Order i gets the idempotency key `k{i}`, the customer `cust-{i % C}` and a date `i % D` days
after T0, so reads can filter on customers and span days. Rows are inserted with INSERT ...
SELECT (the stamp trigger fills tx_id and recorded_at), with the same payload bytes and hash
chain append_events would write; `check_loaded` proves it for one order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log import store

# Orders whose lifetimes overlap in the log: an order's four events spread over ~12,000 events
# (3 x this many slots of up to 4 events), i.e. across several rebuild batches, as concurrent
# orders do in production; a rebuild has to carry rows from batch to batch.
ORDERS_IN_FLIGHT = 1_000
# Orders generated per INSERT ... SELECT: a few seconds of server work per statement.
LOAD_CHUNK_ORDERS = 50_000
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
KEY = "@KEY@"  # stands for the idempotency key in the payload templates rendered in SQL
CUSTOMER = "@CUSTOMER@"  # and this for the customer id
T0_TEXT = msgspec.json.encode(T0).decode().strip('"')  # every time in a template, shifted per order
GENESIS = bytes(32)
CLIENT = "bench"


def order_requested(key: str, customer: str = "cust-1", when: datetime = T0) -> ev.OrderRequested:
    """The first event of an order, as the intake writes it (tests/factories.py's shape)."""
    return ev.OrderRequested(
        client_id=CLIENT,
        idempotency_key=key,
        customer_id=customer,
        brand_id="amazon-us",
        amount_minor=2500,
        currency="USD",
        fingerprint="f" * 64,
        vendor="sandbox",
        vendor_reference=f"ref-{key}",
        requested_at=when,
    )


def order_history(key: str, customer: str = "cust-1", when: datetime = T0) -> list[ev.Event]:
    """A typical order: requested, sent, fulfilled by the vendor, then replayed by the client."""
    return [
        order_requested(key, customer, when),
        ev.VendorRequestSent(
            vendor="sandbox", vendor_reference=f"ref-{key}", attempt=1, sent_at=when
        ),
        ev.VendorResponseReceived(
            vendor="sandbox",
            attempt=1,
            outcome="fulfilled",
            received_at=when,
            vendor_order_id=f"vo-{key}",
            vendor_status="completed",
            http_status=201,
            card_stored=True,
        ),
        ev.RequestReplayed(fingerprint="f" * 64, replayed_at=when),
    ]


def order_key(i: int) -> str:
    return f"k{i}"  # must match the SQL in _LOAD_ORDERS


def order_stream(key: str) -> str:
    return f"order:{CLIENT}:{key}"  # must match the SQL in _LOAD_ORDERS


# Order streams i in [$1, $2), chained exactly as append_events does, in one statement. Event j
# of order i lands at slot i + (j - 1) * ORDERS_IN_FLIGHT, which interleaves orders in the log.
_RENDER = """convert_to(replace(replace(replace(($4::text[])[{version}], $5, 'k' || {i}),
                                '@CUSTOMER@', 'cust-' || ({i} % $8)),
                        $9, to_char(($10::timestamptz + ({i} % $11) * interval '1 day')
                                    AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
                'UTF8')"""
_LOAD_ORDERS = f"""
WITH RECURSIVE chain (i, version, data, hash) AS (
    SELECT i, 1, p.data,
           event_hash($6::bytea, 'order:bench:k' || i, 1, ($3::text[])[1], p.data)
    FROM generate_series($1::bigint, $2::bigint - 1) AS i,
         LATERAL (SELECT {_RENDER.format(version=1, i="i")} AS data) p
  UNION ALL
    SELECT c.i, c.version + 1, p.data,
           event_hash(c.hash, 'order:bench:k' || c.i, c.version + 1,
                      ($3::text[])[c.version + 1], p.data)
    FROM chain c,
         LATERAL (SELECT {_RENDER.format(version="c.version + 1", i="c.i")} AS data) p
    WHERE c.version < cardinality($3::text[])
)
INSERT INTO events (stream_id, version, type, data, hash)
SELECT 'order:bench:k' || i, version, ($3::text[])[version], data, hash
FROM chain
ORDER BY i + (version - 1) * $7::bigint, version, i"""


def failed_history(key: str, customer: str = "cust-1", when: datetime = T0) -> list[ev.Event]:
    """An order the vendor refused."""
    refused = ev.VendorResponseReceived(
        vendor="sandbox",
        attempt=1,
        outcome="rejected",
        received_at=when,
        http_status=422,
        code="brand_unavailable",
        message="the brand is not available",
    )
    return [order_requested(key, customer, when), refused]


def _history(i: int, customers: int, days: int, failed: bool) -> list[ev.Event]:
    make = failed_history if failed else order_history
    return make(order_key(i), f"cust-{i % customers}", T0 + timedelta(days=i % days))


async def load_orders(
    conn: asyncpg.Connection,
    first: int,
    last: int,
    *,
    customers: int = 1,
    days: int = 1,
    failed: bool = False,
) -> None:
    """Orders [first, last): fulfilled 4-event streams, or (failed) refused 2-event ones."""
    templates = (failed_history if failed else order_history)(KEY, CUSTOMER)
    types = [ev.type_name(e) for e in templates]
    texts = [ev.encode(e).decode() for e in templates]
    for start in range(first, last, LOAD_CHUNK_ORDERS):
        end = min(start + LOAD_CHUNK_ORDERS, last)
        await conn.execute(
            _LOAD_ORDERS,
            start,
            end,
            types,
            texts,
            KEY,
            GENESIS,
            ORDERS_IN_FLIGHT,
            customers,
            T0_TEXT,
            T0,
            days,
        )


async def check_loaded(
    conn: asyncpg.Connection, i: int, *, customers: int = 1, days: int = 1, failed: bool = False
) -> None:
    """The generated rows are what append would have written: same bytes, same chain."""
    key = order_key(i)
    rows = await store.read_stream(conn, order_stream(key))
    history = _history(i, customers, days, failed)
    assert [r.data for r in rows] == [ev.encode(e) for e in history], "payload bytes differ"
    assert [r.type for r in rows] == [ev.type_name(e) for e in history], "types differ"
    hashes = await conn.fetch(
        "SELECT hash FROM events WHERE stream_id = $1 ORDER BY version", order_stream(key)
    )
    prev = GENESIS
    for row, record in zip(hashes, rows, strict=True):
        prev = await conn.fetchval(
            "SELECT event_hash($1, $2, $3, $4, $5)",
            prev,
            record.stream_id,
            record.version,
            record.type,
            record.data,
        )
        assert row["hash"] == prev, "hash chain differs from event_hash()"
