"""The discrepancy projection folded from a hand-made log: every kind, re-runs, rebuild."""

from datetime import UTC, datetime, timedelta

from ledger.log import events as ev
from ledger.log import store
from projections.checkpoints import ensure_projection
from projections.discrepancies.projection import ReconciliationProjection
from projections.rebuild import rebuild
from tests.factories import T0, order_requested
from tests.waiting import caught_up

# Orders are dated by when they were recorded (now), so the run's window is around now.
NOW = datetime.now(UTC)


def fulfilled(vendor_order_id: str) -> ev.VendorResponseReceived:
    return ev.VendorResponseReceived(
        vendor="sandbox",
        attempt=1,
        outcome="fulfilled",
        received_at=T0,
        vendor_order_id=vendor_order_id,
    )


def webhook(key: str, status: str) -> ev.WebhookReceived:
    return ev.WebhookReceived(
        vendor="sandbox",
        webhook_id=f"evt-{key}-{status}",
        event_type=f"order.{status}",
        reported_status=status,
        reference=f"ref-{key}",
        vendor_order_id=None,
        body_sha256="0" * 64,
        received_at=T0,
    )


def seen(run_id: str, key: str, vendor_order_id: str, status="fulfilled", amount=2500):
    return ev.VendorRecordObserved(
        run_id=run_id,
        vendor="sandbox",
        vendor_order_id=vendor_order_id,
        reference=f"ref-{key}",
        status=status,
        amount_minor=amount,
        currency="USD",
        vendor_created_at=T0,
        vendor_updated_at=T0,
        observed_at=T0,
    )


async def run(pool, run_id: str, records: list[tuple[str | None, list[ev.Event]]]) -> None:
    """A run: started, observations (to order streams or the run stream), completed."""
    started = ev.ReconciliationStarted(
        run_id=run_id,
        vendor="sandbox",
        window_start=NOW - timedelta(days=1),
        window_end=NOW + timedelta(days=1),
        started_at=T0,
    )
    await store.append(pool, f"reconciliation:{run_id}", [started], 0)
    for key, events in records:
        stream = f"order:c:{key}" if key else f"reconciliation:{run_id}"
        await store.append_observed(pool, stream, events)
    done = ev.ReconciliationCompleted(
        run_id=run_id, records_seen=len(records), pages=1, completed_at=T0
    )
    await store.append_observed(pool, f"reconciliation:{run_id}", [done])


async def test_every_kind_of_discrepancy_is_found_once_and_safe_ones_heal(pool):
    orders = {
        "ok": [order_requested("ok"), fulfilled("vo_ok"), webhook("ok", "fulfilled")],
        "short": [order_requested("short"), fulfilled("vo_short"), webhook("short", "fulfilled")],
        "late": [order_requested("late")],
        "lost": [order_requested("lost"), fulfilled("vo_lost")],
        "twice": [order_requested("twice"), fulfilled("vo_t1"), webhook("twice", "fulfilled")],
    }
    for key, events in orders.items():
        await store.append(pool, f"order:c:{key}", events, 0)
    healed = ev.OrderFulfilled(vendor_order_id="vo_late", source="reconciliation", fulfilled_at=T0)

    def records(run_id: str) -> list:
        return [
            ("ok", [seen(run_id, "ok", "vo_ok")]),
            ("short", [seen(run_id, "short", "vo_short", amount=2400)]),
            ("twice", [seen(run_id, "twice", "vo_t1")]),
            ("twice", [seen(run_id, "twice", "vo_t2")]),
            (None, [seen(run_id, "ghost", "vo_ghost")]),
        ]

    await run(
        pool, "run_1", [*records("run_1"), ("late", [seen("run_1", "late", "vo_late"), healed])]
    )
    projection = ReconciliationProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        await caught_up(conn, projection)
        found = await conn.fetch("SELECT kind, stream_id, state FROM discrepancies ORDER BY kind")
        counts = await conn.fetchrow("SELECT * FROM reconciliation_runs WHERE run_id = 'run_1'")
    assert [tuple(r) for r in found] == [
        ("amount_mismatch", "order:c:short", "open"),
        ("duplicate_at_vendor", "order:c:twice", "open"),
        ("missing_at_vendor", "order:c:lost", "open"),
        ("missing_internally", None, "open"),
        ("status_mismatch", "order:c:late", "auto_resolved"),
    ]
    assert (counts["records_seen"], counts["matched"], counts["missed_webhooks"]) == (6, 5, 1)
    assert counts["amount_mismatch"] == counts["duplicate_at_vendor"] == 1
    assert counts["status_mismatch"] == counts["auto_resolved"] == 1

    # The same window again: new observations, the same discrepancies, nothing double-counted.
    await run(pool, "run_2", [*records("run_2"), ("late", [seen("run_2", "late", "vo_late")])])
    async with pool.acquire() as conn:
        await caught_up(conn, projection)
        rows = await conn.fetch("SELECT kind, stream_id, vendor_order_id FROM discrepancies")
        assert len(rows) == 5, sorted(tuple(r) for r in rows)
        again = await conn.fetchrow("SELECT * FROM reconciliation_runs WHERE run_id = 'run_2'")
        assert again["amount_mismatch"] == again["duplicate_at_vendor"] == 1
        assert again["missing_at_vendor"] == 1 and again["status_mismatch"] == 0
        assert await rebuild(conn, projection, verify_only=True) == []


def started(run_id: str) -> ev.ReconciliationStarted:
    return ev.ReconciliationStarted(
        run_id=run_id,
        vendor="sandbox",
        window_start=NOW - timedelta(days=1),
        window_end=NOW + timedelta(days=1),
        started_at=T0,
    )


def completed(run_id: str) -> ev.ReconciliationCompleted:
    return ev.ReconciliationCompleted(run_id=run_id, records_seen=1, pages=1, completed_at=T0)


async def test_overlapping_runs_that_both_saw_an_order_do_not_report_it_missing(pool):
    """Issue 12, finding 2: R1 sees X, R2 sees X, R1 completes. The order was seen by R1, so R1
    must not report it missing because a later run saw it since."""
    key = "overlap"
    await store.append(pool, f"order:c:{key}", [order_requested(key), fulfilled("vo_o")], 0)
    for run_id in ("run_r1", "run_r2"):
        await store.append(pool, f"reconciliation:{run_id}", [started(run_id)], 0)
    for run_id in ("run_r1", "run_r2"):
        await store.append_observed(pool, f"order:c:{key}", [seen(run_id, key, "vo_o")])
    for run_id in ("run_r1", "run_r2"):
        await store.append_observed(pool, f"reconciliation:{run_id}", [completed(run_id)])
    projection = ReconciliationProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        await caught_up(conn, projection)
        kinds = await conn.fetch("SELECT kind, state FROM discrepancies")
        counts = await conn.fetch(
            "SELECT run_id, missing_at_vendor FROM reconciliation_runs ORDER BY run_id"
        )
        sightings_left = await conn.fetchval("SELECT count(*) FROM recon_sightings")
        assert await rebuild(conn, projection, verify_only=True) == []
    assert sightings_left == 0  # a completed run's sightings go with it
    assert [tuple(r) for r in kinds] == []
    assert [tuple(r) for r in counts] == [("run_r1", 0), ("run_r2", 0)]


async def test_run_counts_are_the_same_applied_event_by_event_as_in_one_rebuild_batch(pool):
    """Issue 12, finding 6: a status finding healed by a later event of the same run was counted
    auto_resolved only when the heal fell in the same batch as the run's other events."""
    key = "heals"
    projection = ReconciliationProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)

        async def appended(stream: str, events: list[ev.Event], expected: int | None) -> None:
            if expected is None:
                await store.append_observed(pool, stream, events)
            else:
                await store.append(pool, stream, events, expected)
            await caught_up(conn, projection)  # the live runner, one small batch per append

        await appended(f"order:c:{key}", [order_requested(key)], 0)
        await appended("reconciliation:run_h", [started("run_h")], 0)
        await appended(f"order:c:{key}", [seen("run_h", key, "vo_h")], None)
        healed = ev.OrderFulfilled(vendor_order_id="vo_h", source="confirmation", fulfilled_at=T0)
        await appended(f"order:c:{key}", [healed], None)
        await appended("reconciliation:run_h", [completed("run_h")], None)
        live = await conn.fetchrow("SELECT * FROM reconciliation_runs WHERE run_id = 'run_h'")
        state = await conn.fetchval("SELECT state FROM discrepancies WHERE kind='status_mismatch'")
        differences = await rebuild(conn, projection, verify_only=True)
    assert state == "auto_resolved"
    assert (live["status_mismatch"], live["auto_resolved"]) == (1, 1)
    assert differences == []
