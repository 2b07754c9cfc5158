"""A status finding heals whichever side moves: when our order comes to agree with the vendor's
record, and when the vendor's record comes to agree with our order (a listing that lagged)."""

from ledger.log import store
from projections.checkpoints import ensure_projection
from projections.discrepancies.projection import ReconciliationProjection
from projections.rebuild import rebuild
from tests.factories import order_requested
from tests.integration.projections.test_discrepancies import fulfilled, run, seen
from tests.waiting import caught_up


async def status_finding(conn) -> tuple[str, str | None]:
    row = await conn.fetchrow(
        "SELECT state, vendor_status FROM discrepancies WHERE kind = 'status_mismatch'"
    )
    return row["state"], row["vendor_status"]


async def test_a_status_finding_heals_when_the_vendor_catches_up(pool):
    await store.append(pool, "order:c:slow", [order_requested("slow"), fulfilled("vo_s")], 0)
    await run(pool, "run_1", [("slow", [seen("run_1", "slow", "vo_s", status="pending")])])
    projection = ReconciliationProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        await caught_up(conn, projection)
        assert await status_finding(conn) == ("open", "pending")
        await run(pool, "run_2", [("slow", [seen("run_2", "slow", "vo_s")])])
        await caught_up(conn, projection)
        assert await status_finding(conn) == ("auto_resolved", "fulfilled")
        assert await rebuild(conn, projection, verify_only=True) == []


async def test_a_double_charge_is_one_duplicate_finding_that_does_not_reopen_run_after_run(pool):
    """Ours fulfilled as vo_a; the vendor also holds vo_b, pending, under our reference. Only
    our own vendor order is compared with our order, so no status finding flaps between the
    two records (healed by one, reopened by the other, announced again every run)."""
    await store.append(pool, "order:c:twice", [order_requested("twice"), fulfilled("vo_a")], 0)
    projection = ReconciliationProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        for run_id in ("run_1", "run_2", "run_3"):
            listed = [
                seen(run_id, "twice", "vo_b", status="pending"),
                seen(run_id, "twice", "vo_a"),
            ]
            await run(pool, run_id, [("twice", listed)])
            await caught_up(conn, projection)
        rows = await conn.fetch(
            "SELECT kind, vendor_order_id, state, reopened_run FROM discrepancies ORDER BY kind"
        )
        assert [tuple(r) for r in rows] == [("duplicate_at_vendor", "vo_b", "open", None)]
        assert await rebuild(conn, projection, verify_only=True) == []
