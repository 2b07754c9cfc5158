"""Over random workloads, every day's journal balances and the accounts mirror the states."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from ledger.gl.close import close_day
from ledger.log import events as ev
from ledger.log import store
from projections.checkpoints import ensure_projection
from projections.gl.projection import GLProjection
from projections.gl.reports import daily, day_journal
from projections.rebuild import rebuild
from tests.factories import order_requested
from tests.waiting import caught_up

START = datetime(2026, 3, 1, tzinfo=UTC)


async def random_orders(pool, rng: random.Random, count: int) -> None:
    for i in range(count):
        when = START + timedelta(minutes=rng.randint(0, 60 * 24 * 10))
        currency = rng.choice(["USD", "JPY", "KWD"])
        events: list[ev.Event] = [
            order_requested(
                f"k{i}",
                amount_minor=rng.randint(1, 100_000),
                currency=currency,
                requested_at=when,
            )
        ]
        later = when + timedelta(hours=rng.randint(0, 72))
        roll = rng.random()
        if roll < 0.6:
            events.append(
                ev.OrderFulfilled(vendor_order_id="v", source="vendor", fulfilled_at=later)
            )
            if rng.random() < 0.3:
                events.append(
                    ev.OrderRefunded(
                        amount_minor=1, source="manual", refunded_at=later + timedelta(days=1)
                    )
                )
        elif roll < 0.8:
            events.append(ev.OrderFailed(reason="x", source="vendor", failed_at=later))
        await store.append(pool, f"order:c:k{i}", events, 0)


async def test_every_day_balances_and_account_balances_equal_state_balances(pool):
    gl = GLProjection("Asia/Kolkata")  # a half-hour offset zone
    await random_orders(pool, random.Random(7), 300)
    async with pool.acquire() as conn:
        await ensure_projection(conn, gl)
        await caught_up(conn, gl)
        first, last = START.date() - timedelta(days=1), START.date() + timedelta(days=15)
        rows = await daily(conn, first, last, None, None)
        running: dict[tuple[str, str], int] = defaultdict(int)
        day = first
        while day <= last:
            journal = await day_journal(conn, gl.chart, day, None, None)  # raises if unbalanced
            per_currency: dict[str, int] = defaultdict(int)
            for line in journal:
                per_currency[line.currency] += line.debit_minor - line.credit_minor
                running[(line.currency, line.account)] += line.debit_minor - line.credit_minor
            assert all(v == 0 for v in per_currency.values()), (day, per_currency)
            for d, total in rows:
                if d != day:
                    continue
                if total.state == "pending":
                    assert (
                        running[(total.currency, gl.chart["pending"].debit)]
                        == total.closing_balance_minor
                    )
                if total.state == "fulfilled":
                    assert (
                        running[(total.currency, gl.chart["fulfilled"].debit)]
                        == total.closing_balance_minor
                    )
            day += timedelta(days=1)
    assert rows, "the workload produced GL activity"


async def test_a_range_that_starts_late_opens_with_the_balances_of_every_day_before_it(pool):
    gl = GLProjection("UTC")
    await random_orders(pool, random.Random(11), 200)
    first, last = START.date() - timedelta(days=1), START.date() + timedelta(days=15)
    async with pool.acquire() as conn:
        await ensure_projection(conn, gl)
        await caught_up(conn, gl)
        # Closing days moves later postings of theirs on: the daily sums must follow.
        for day in (START.date() + timedelta(days=n) for n in (2, 3, 7)):
            await close_day(conn, gl, day, START + timedelta(days=30))
        await random_orders_after_closes(pool)
        # A close read before any event, as a replay meets a close whose figures were read
        # while other moves of its day were committing: the projection moves every later
        # posting of that day on to the next open day.
        early = ev.GLDayClosed(
            business_date=START.date() + timedelta(days=5),
            closed_at=START + timedelta(days=30),
            totals=[],
            journal=[],
            upto_tx_id=0,
            upto_position=0,
        )
        await store.append(pool, "gl:early", [early], 0)
        await caught_up(conn, gl)
        full = await daily(conn, first, last, None, None)
        for start in (START.date() + timedelta(days=n) for n in (1, 4, 9)):
            assert await daily(conn, start, last, None, None) == [
                (d, t) for d, t in full if d >= start
            ]
        client_rows = await daily(conn, START.date() + timedelta(days=5), last, None, "c")
        assert client_rows == [(d, t) for d, t in full if d >= START.date() + timedelta(days=5)]
        assert await daily(conn, START.date() + timedelta(days=5), last, None, "other") == []
        # The daily sums are exactly the postings summed afresh.
        summed = """SELECT posting_date, currency, client_id, from_state, to_state,
                           count(*), sum(amount_minor), count(adjustment_of),
                           coalesce(sum(amount_minor) FILTER (WHERE adjustment_of IS NOT NULL), 0)
                    FROM gl_postings GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"""
        stored = """SELECT posting_date, currency, client_id, from_state, to_state, count,
                           amount_minor, adjustment_count, adjustment_minor
                    FROM gl_daily ORDER BY 1, 2, 3, 4, 5"""
        assert [tuple(r) for r in await conn.fetch(stored)] == [
            tuple(r) for r in await conn.fetch(summed)
        ]
        assert any(t.adjustment_count for _, t in full), "the closes moved some postings"
        assert not [d for d, _ in full if d == early.business_date], "the early close emptied it"
        # A rebuild from the log reaches the same sums.
        assert await rebuild(conn, gl, verify_only=True) == []


async def random_orders_after_closes(pool) -> None:
    """Late moves dated on closed days, so that they post to the next open day."""
    rng = random.Random(12)
    for i in range(200):
        await store.append_observed(
            pool,
            f"order:c:k{i}",
            [ev.OrderFailed(reason="late", source="manual", failed_at=START + timedelta(days=2))]
            if rng.random() < 0.2
            else [],
        )
