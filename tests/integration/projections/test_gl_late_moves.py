"""A late move never changes a closed day's figures, even when it is dated on a day that was
never closed (a day with no orders, which the close schedule skips) before a closed one: a
closing balance sums every earlier day, so the move posts after the latest closed day."""

from datetime import UTC, date, datetime

import pytest

from ledger.gl.close import CloseRefused, close_day
from ledger.log import events as ev
from ledger.log import store
from projections.checkpoints import ensure_projection
from projections.gl import reports
from projections.gl.projection import GLProjection
from projections.gl.reports import daily, daily_csv
from projections.rebuild import rebuild
from tests.factories import order_requested
from tests.waiting import caught_up

NOW = datetime(2026, 11, 27, tzinfo=UTC)
D1, D2, D3, D4 = date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 6), date(2026, 5, 7)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def fulfilled_order(pool, key: str, day: date) -> None:
    await store.append_observed(
        pool,
        f"order:acme:{key}",
        [
            order_requested(
                key, amount_minor=10_000, currency="USD", client="acme", requested_at=at(day, 9)
            ),
            ev.OrderFulfilled(
                vendor_order_id=f"v-{key}", source="vendor", fulfilled_at=at(day, 10)
            ),
        ],
    )


def by_state(rows, day: date) -> dict[str, tuple[int, int, int]]:
    return {
        t.state: (t.amount_minor, t.adjustment_minor, t.closing_balance_minor)
        for d, t in rows
        if d == day and t.currency == "USD"
    }


async def test_a_refund_dated_before_a_skipped_day_posts_after_the_latest_closed_day(pool):
    gl = GLProjection("UTC")
    await fulfilled_order(pool, "A", D1)
    await fulfilled_order(pool, "B", D3)  # D2 has no orders: the close schedule skips it
    async with pool.acquire() as conn:
        await ensure_projection(conn, gl)
        await caught_up(conn, gl)
        await close_day(conn, gl, D1, NOW)
        third = await close_day(conn, gl, D3, NOW)

        # Reconciliation finds A refunded weeks later, dated by the vendor's record: on D1.
        refund = ev.OrderRefunded(
            amount_minor=10_000, source="reconciliation", refunded_at=at(D1, 12)
        )
        await store.append_observed(pool, "order:acme:A", [refund])
        await caught_up(conn, gl)
        rows = await daily(conn, D1, D4, None, None)

        closed_figures = sorted((t for t in third.totals), key=lambda t: t.state)
        assert sorted((t for d, t in rows if d == D3), key=lambda t: t.state) == closed_figures
        assert by_state(rows, D2) == {}
        assert by_state(rows, D4)["refunded"] == (10_000, 10_000, 10_000)
        assert by_state(rows, D4)["fulfilled"] == (0, 0, 10_000)

        # The rebuild places it alike.
        csv_before = daily_csv(rows)
        assert await rebuild(conn, gl) == []
        assert daily_csv(await daily(conn, D1, D4, None, None)) == csv_before


async def test_a_move_on_an_earlier_open_day_applied_while_a_day_closes_moves_past_it(pool):
    """Between the figures a close reads and its GLDayClosed, a move dated on an earlier open
    day (D2, skipped) changes the closing day's balance as surely as one dated on it."""
    gl = GLProjection("UTC")
    await fulfilled_order(pool, "A", D1)
    await fulfilled_order(pool, "B", D3)
    async with pool.acquire() as conn:
        await ensure_projection(conn, gl)
        await caught_up(conn, gl)
        await close_day(conn, gl, D1, NOW)
        await caught_up(conn, gl)
        cursor = await conn.fetchrow(
            "SELECT tx_id::text::bigint AS tx, position FROM projection_checkpoints"
            " WHERE name = 'gl'"
        )
        figures = [t for d, t in await daily(conn, D3, D3, None, None) if d == D3]
        refund = ev.OrderRefunded(amount_minor=10_000, source="manual", refunded_at=at(D2, 12))
        await store.append_observed(pool, "order:acme:A", [refund])  # after the figures
        closed = ev.GLDayClosed(
            business_date=D3,
            closed_at=NOW,
            totals=figures,
            journal=[],
            upto_tx_id=cursor["tx"],
            upto_position=cursor["position"],
        )
        await store.append(pool, f"gl:{D3.isoformat()}", [closed], 0)
        await caught_up(conn, gl)
        rows = await daily(conn, D1, D4, None, None)
        assert sorted((t for d, t in rows if d == D3), key=lambda t: t.state) == sorted(
            figures, key=lambda t: t.state
        )
        assert by_state(rows, D2) == {}
        assert by_state(rows, D4)["refunded"] == (10_000, 10_000, 10_000)
        csv_before = daily_csv(rows)
        assert await rebuild(conn, gl) == []
        assert daily_csv(await daily(conn, D1, D4, None, None)) == csv_before


async def test_a_close_run_with_another_business_zone_refuses_before_folding_anything(pool):
    """`gl close` from a shell without the service's BUSINESS_TZ folded the events the runner
    had not applied yet in its own zone, into the live tables, and only then refused."""
    service = GLProjection("UTC")
    await fulfilled_order(pool, "A", D1)
    async with pool.acquire() as conn:
        await ensure_projection(conn, service)
        await caught_up(conn, service)
        await fulfilled_order(pool, "late", D1)  # not yet applied by the service's runner
        before = await conn.fetchrow("SELECT * FROM projection_checkpoints WHERE name = 'gl'")
        shell = GLProjection("America/Los_Angeles")
        with pytest.raises(CloseRefused, match="BUSINESS_TZ"):
            await close_day(conn, shell, D1, NOW)
        after = await conn.fetchrow("SELECT * FROM projection_checkpoints WHERE name = 'gl'")
        assert after == before
        assert await conn.fetchval("SELECT count(*) FROM gl_orders") == 1


async def test_a_journal_and_its_closed_flag_are_read_in_one_snapshot(pool, monkeypatch):
    """A close applied between the two reads showed `closed` beside the lines it moved out."""
    gl = GLProjection("UTC")
    await fulfilled_order(pool, "A", D1)
    async with pool.acquire() as conn:
        await ensure_projection(conn, gl)
        await caught_up(conn, gl)
    real = reports.day_journal

    async def then_closed_elsewhere(conn, *args):
        lines = await real(conn, *args)
        await pool.execute(  # another session's close commits here
            "INSERT INTO gl_closed_days VALUES ($1, 0, 0, $2) ON CONFLICT DO NOTHING", D1, NOW
        )
        return lines

    monkeypatch.setattr(reports, "day_journal", then_closed_elsewhere)
    async with pool.acquire() as conn:
        lines, closed = await reports.journal_as_it_stands(conn, gl.chart, D1, None, None)
        assert lines and closed is False  # the lines are from before that close, and so is this
        assert (await reports.journal_as_it_stands(conn, gl.chart, D1, None, None))[1] is True
