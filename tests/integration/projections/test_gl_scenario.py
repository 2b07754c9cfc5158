"""Three business days in New York across the DST change, USD and JPY, closes and corrections.

Every figure below is worked out by hand from the orders listed in the test.
"""

from datetime import UTC, date, datetime

import pytest

from ledger.gl.close import CloseRefused, close_day
from ledger.log import events as ev
from ledger.log import store
from projections.checkpoints import ensure_projection
from projections.gl.projection import GLProjection
from projections.gl.reports import daily, daily_csv, day_journal
from projections.rebuild import rebuild
from tests.factories import order_requested
from tests.waiting import caught_up

NOW = datetime(2026, 11, 27, tzinfo=UTC)
D1, D2, D3 = date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def requested(key: str, amount: int, currency: str, when: str) -> ev.OrderRequested:
    return order_requested(
        key, amount_minor=amount, currency=currency, client="acme", requested_at=at(when)
    )


def fulfilled(when: str) -> ev.VendorResponseReceived:
    return ev.VendorResponseReceived(
        vendor="sandbox", attempt=1, outcome="fulfilled", received_at=at(when), vendor_order_id="v"
    )


async def order(pool, key: str, *events: ev.Event) -> None:
    await store.append_observed(pool, f"order:acme:{key}", list(events))


def totals(rows, day: date, currency: str) -> dict:
    return {
        t.state: (
            t.count,
            t.amount_minor,
            t.adjustment_count,
            t.adjustment_minor,
            t.closing_balance_minor,
        )
        for d, t in rows
        if d == day and t.currency == currency
    }


def lines(journal) -> list[tuple]:
    return [
        (j.currency, j.account[:4], j.debit_minor, j.credit_minor, j.adjustment_of) for j in journal
    ]


async def test_three_days_two_currencies_closes_and_late_corrections(pool):
    gl = GLProjection("America/New_York")
    async with pool.acquire() as conn:
        await ensure_projection(conn, gl)

    # Day 1, 2026-03-07 (EST, UTC-5).
    await order(
        pool,
        "A",
        requested("A", 2500, "USD", "2026-03-07T15:00:00"),
        fulfilled("2026-03-07T15:00:05"),
    )
    # 04:30Z on the 8th is 23:30 on the 7th in New York: day 1.
    await order(
        pool,
        "B",
        requested("B", 5000, "JPY", "2026-03-08T04:30:00"),
        fulfilled("2026-03-08T04:30:05"),
    )
    await order(pool, "C", requested("C", 1000, "USD", "2026-03-07T20:00:00"))
    rejected = ev.VendorResponseReceived(
        vendor="sandbox",
        attempt=1,
        outcome="rejected",
        received_at=at("2026-03-07T21:00:01"),
        code="x",
    )
    await order(pool, "D", requested("D", 500, "USD", "2026-03-07T21:00:00"), rejected)
    async with pool.acquire() as conn:
        await caught_up(conn, gl)
        first_close = await close_day(conn, gl, D1, NOW)

    # Day 2, 2026-03-08: DST starts at 07:00Z.
    await order(
        pool,
        "E",
        requested("E", 3000, "JPY", "2026-03-08T05:30:00"),
        fulfilled("2026-03-08T05:30:02"),
    )
    refund = ev.OrderRefunded(
        amount_minor=2500, source="manual", refunded_at=at("2026-03-08T14:00:00")
    )
    await order(pool, "A", refund)  # a refund after day 1 closed: an adjustment of day 1
    # Recorded late: dated on closed day 1, so it posts to day 2 as an adjustment of day 1.
    await order(pool, "H", requested("H", 200, "USD", "2026-03-07T22:00:00"))
    # 03:30Z on the 9th is 23:30 EDT on the 8th: day 2.
    await order(
        pool,
        "F",
        requested("F", 750, "USD", "2026-03-09T03:30:00"),
        fulfilled("2026-03-09T03:30:03"),
    )
    async with pool.acquire() as conn:
        await caught_up(conn, gl)
        await close_day(conn, gl, D2, NOW)

    # Day 3, 2026-03-09: 04:30Z is 00:30 EDT on the 9th (it would be the 8th without DST).
    await order(
        pool,
        "I",
        requested("I", 300, "USD", "2026-03-09T04:30:00"),
        fulfilled("2026-03-09T04:31:00"),
    )
    fix = ev.OrderFulfilled(
        vendor_order_id="vc", source="reconciliation", fulfilled_at=at("2026-03-09T13:00:00")
    )
    await order(pool, "C", fix)  # reconciliation finds C fulfilled: an adjustment of day 1
    await order(pool, "G", requested("G", 100, "USD", "2026-03-09T15:00:00"))

    async with pool.acquire() as conn:
        await caught_up(conn, gl)
        rows = await daily(conn, D1, D3, None, None)
        journals = {d: await day_journal(conn, gl.chart, d, None, None) for d in (D1, D2, D3)}
        csv_before = daily_csv(rows)

        # (count, amount, adjustment count, adjustment amount, closing balance) per state
        assert totals(rows, D1, "USD") == {
            "pending": (3, 4000, 0, 0, 1000),
            "fulfilled": (1, 2500, 0, 0, 2500),
            "refunded": (0, 0, 0, 0, 0),
            "failed": (1, 500, 0, 0, 500),
        }
        assert totals(rows, D1, "JPY") == {
            "pending": (1, 5000, 0, 0, 0),
            "fulfilled": (1, 5000, 0, 0, 5000),
            "refunded": (0, 0, 0, 0, 0),
            "failed": (0, 0, 0, 0, 0),
        }
        assert totals(rows, D2, "USD") == {
            "pending": (2, 950, 1, 200, 1200),
            "fulfilled": (1, 750, 0, 0, 750),
            "refunded": (1, 2500, 1, 2500, 2500),
            "failed": (0, 0, 0, 0, 500),
        }
        assert totals(rows, D2, "JPY") == {
            "pending": (1, 3000, 0, 0, 0),
            "fulfilled": (1, 3000, 0, 0, 8000),
            "refunded": (0, 0, 0, 0, 0),
            "failed": (0, 0, 0, 0, 0),
        }
        assert totals(rows, D3, "USD") == {
            "pending": (2, 400, 0, 0, 300),
            "fulfilled": (2, 1300, 1, 1000, 2050),
            "refunded": (0, 0, 0, 0, 2500),
            "failed": (0, 0, 0, 0, 500),
        }
        assert totals(rows, D3, "JPY") == {}

        # The closed day's event carries exactly what the report still shows.
        assert sorted(first_close.totals, key=lambda t: (t.currency, t.state)) == sorted(
            (t for d, t in rows if d == D1), key=lambda t: (t.currency, t.state)
        )

        assert lines(journals[D1]) == [
            ("JPY", "1410", 5000, 5000, None),
            ("JPY", "2100", 0, 5000, None),
            ("JPY", "2410", 5000, 5000, None),
            ("JPY", "5100", 5000, 0, None),
            ("USD", "1410", 4000, 3000, None),
            ("USD", "2100", 0, 2500, None),
            ("USD", "2410", 3000, 4000, None),
            ("USD", "5100", 2500, 0, None),
        ]
        assert [line for line in lines(journals[D2]) if line[0] == "USD"] == [
            ("USD", "1410", 750, 750, None),
            ("USD", "2100", 0, 750, None),
            ("USD", "2410", 750, 750, None),
            ("USD", "5100", 750, 0, None),
            ("USD", "1410", 200, 0, D1),
            ("USD", "2100", 2500, 0, D1),
            ("USD", "2410", 0, 200, D1),
            ("USD", "5100", 0, 2500, D1),
        ]
        assert lines(journals[D3]) == [
            ("USD", "1410", 400, 300, None),
            ("USD", "2100", 0, 300, None),
            ("USD", "2410", 300, 400, None),
            ("USD", "5100", 300, 0, None),
            ("USD", "1410", 0, 1000, D1),
            ("USD", "2100", 0, 1000, D1),
            ("USD", "2410", 1000, 0, D1),
            ("USD", "5100", 1000, 0, D1),
        ]

        # A rebuild from the log reproduces every day, closed days included, byte for byte.
        assert await rebuild(conn, gl) == []
        assert daily_csv(await daily(conn, D1, D3, None, None)) == csv_before
        assert await rebuild(conn, gl, verify_only=True) == []


async def test_a_day_is_not_closed_from_a_gl_whose_tables_are_awaiting_a_rebuild(pool):
    gl = GLProjection("America/New_York")
    await order(
        pool, "A", requested("A", 2500, "USD", "2026-03-07T15:00:00"), fulfilled("2026-03-07T15:01")
    )
    async with pool.acquire() as conn:
        await ensure_projection(conn, gl)
        await caught_up(conn, gl)
        # As after an upgrade that changed the GL's tables (issue 15 added gl_daily): rows of
        # the old shape stay until the rebuild swaps new ones in.
        await conn.execute(
            "UPDATE projection_checkpoints SET schema_hash = 'older' WHERE name = 'gl'"
        )
        with pytest.raises(CloseRefused, match="after an upgrade, wait"):
            await close_day(conn, gl, D1, NOW)
        assert await store.read_stream(pool, f"gl:{D1.isoformat()}") == []
        assert await rebuild(conn, gl) == []
        closed = await close_day(conn, gl, D1, NOW)
        assert [(t.state, t.count) for t in closed.totals if t.state == "fulfilled"] == [
            ("fulfilled", 1)
        ]
