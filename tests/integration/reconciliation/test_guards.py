"""Guards around a run: one process per run, one recording per page, no order written blind."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from ledger.log import events as ev
from ledger.log import store
from ledger.log.leases import LeaseKind, try_lease
from ledger.log.store import ConcurrencyConflict
from ledger.reconciliation import record as record_module
from ledger.reconciliation.record import Page, record_page
from ledger.reconciliation.runs import OrderConflict, RunInProgress, RunMismatch, run_reconciliation
from tests.integration.reconciliation.test_resume import Crash, Unreliable, assert_each_once, wrap
from tests.integration.reconciliation.test_runs import (
    WINDOW,
    observations,
    our_order,
    reconcile,
    run_types,
    seed,
    utcnow,
    vendor,
    vendor_order,
)


async def test_a_run_held_by_another_process_is_refused_with_run_in_progress(pool):
    async with vendor() as (_, client, _session), pool.acquire() as other:
        assert await try_lease(other, LeaseKind.RECONCILIATION, "run-1")
        with pytest.raises(RunInProgress):
            await reconcile(pool, client, "run-1")
    assert await run_types(pool, "run-1") == []


async def test_a_run_id_reused_for_another_window_is_refused_by_field(pool):
    async with vendor() as (_, client, _session):
        await reconcile(pool, client, "run-1")
        with pytest.raises(RunMismatch) as mismatch:
            await run_reconciliation(
                pool,
                client,
                run_id="run-1",
                window_start=utcnow() - timedelta(days=2),
                window_end=utcnow(),
                clock=utcnow,
            )
    assert mismatch.value.field == "window_start"


async def test_two_resumers_at_once_finish_the_run_once(pool):
    async with vendor() as (url, client, session):
        expected = await seed(pool, session, url, known=4, unknown=4)
        with pytest.raises(Crash):
            crashing = Unreliable(client.adapter, pages_before_crash=1)
            await reconcile(pool, wrap(client, crashing), "run-1", page_size=2)
        outcomes = await asyncio.gather(
            reconcile(pool, client, "run-1", page_size=2),
            reconcile(pool, client, "run-1", page_size=2),
            return_exceptions=True,
        )
    finished = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(finished) >= 1 and all(
        isinstance(o, RunInProgress) for o in outcomes if isinstance(o, BaseException)
    )
    assert (await run_types(pool, "run-1")).count("ReconciliationCompleted") == 1
    assert_each_once(await observations(pool, "run-1"), expected)


async def test_a_page_recorded_twice_at_the_same_version_is_refused_and_appends_nothing(pool):
    async with vendor() as (url, client, session):
        await seed(pool, session, url, known=2, unknown=1)
        listing = await client.adapter.list_transactions(*WINDOW, None, 10)
    started = ev.ReconciliationStarted(
        run_id="run-1",
        vendor="sandbox",
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        started_at=utcnow(),
    )
    version = await store.append(pool, "reconciliation:run-1", [started], 0)
    page = Page(1, listing.records, listing.next_cursor)
    async with pool.acquire() as conn:
        await record_page(conn, started, version, page, utcnow())
        count = await pool.fetchval("SELECT count(*) FROM events")
        with pytest.raises(ConcurrencyConflict):
            await record_page(conn, started, version, page, utcnow())
    assert await pool.fetchval("SELECT count(*) FROM events") == count
    assert len(await observations(pool, "run-1")) == 3


def intrude_after_each_read(monkeypatch, pool, stream_id: str, times: int) -> list[int]:
    """Another writer appends to the order right after the page has read it, `times` times."""
    real, intrusions = record_module._order_states, []

    async def read_then_intrude(conn, stream_ids):
        states = await real(conn, stream_ids)
        if len(intrusions) < times:
            sent = ev.VendorRequestSent(
                vendor="sandbox", vendor_reference="r", attempt=9, sent_at=utcnow()
            )
            intrusions.append(await store.append_observed(pool, stream_id, [sent]))
        return states

    monkeypatch.setattr(record_module, "_order_states", read_then_intrude)
    return intrusions


async def test_an_order_written_to_mid_page_makes_the_page_replay_from_a_fresh_read(
    pool, monkeypatch
):
    async with vendor() as (url, client, session):
        stream_id, reference = await our_order(pool, "busy-order")
        await vendor_order(session, url, reference, "fulfilled")
        intrusions = intrude_after_each_read(monkeypatch, pool, stream_id, times=2)
        summary = await reconcile(pool, client, "run-1")
    assert intrusions == [2, 3] and summary.records_seen == 1
    types = [e.type for e in await store.read_stream(pool, stream_id)]
    assert types == [
        "OrderRequested",
        "VendorRequestSent",
        "VendorRequestSent",
        "VendorRecordObserved",
        "OrderFulfilled",
    ]


async def test_an_order_that_never_stops_changing_stops_the_run_with_nothing_of_the_page(
    pool, monkeypatch
):
    async with vendor() as (url, client, session):
        stream_id, reference = await our_order(pool, "hot-order")
        await vendor_order(session, url, reference, "fulfilled")
        intrude_after_each_read(monkeypatch, pool, stream_id, times=100)
        with pytest.raises(OrderConflict):
            await reconcile(pool, client, "run-1")
    assert await run_types(pool, "run-1") == ["ReconciliationStarted"]
    assert "VendorRecordObserved" not in [e.type for e in await store.read_stream(pool, stream_id)]
