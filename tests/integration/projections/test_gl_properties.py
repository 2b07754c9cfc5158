"""Over random workloads, every day's journal balances and the accounts mirror the states."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from ledger.log import events as ev
from ledger.log import store
from projections.checkpoints import ensure_projection
from projections.gl.projection import GLProjection
from projections.gl.reports import daily, day_journal
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
