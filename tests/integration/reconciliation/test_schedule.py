"""The nightly schedule: the due business day, a deterministic run id, one run across nodes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

from ledger.log import store
from ledger.reconciliation.progress import load_progress
from ledger.reconciliation.schedule import reconcile_day, run_schedule
from tests.integration.reconciliation.test_runs import observations, seed, vendor

# The sandbox stamps records with the real clock, so "today" is the business day under test and
# the schedule is told it is 03:00 tomorrow (UTC), after the nightly 02:00.
TODAY = datetime.now(UTC).date()
TOMORROW_3AM = datetime.combine(TODAY + timedelta(days=1), time(3), tzinfo=UTC)
RUN_ID = f"scheduled-sandbox-{TODAY.isoformat()}"


def fixed_clock() -> datetime:
    return TOMORROW_3AM


async def test_the_schedule_reconciles_the_due_day_for_every_vendor_then_waits(pool):
    stop = asyncio.Event()
    async with vendor() as (url, client, session):
        expected = await seed(pool, session, url, known=3, unknown=2)
        task = asyncio.create_task(
            run_schedule(pool, {"sandbox": client}, stop, tz=UTC, clock=fixed_clock)
        )
        for _ in range(200):
            progress = await load_progress(pool, RUN_ID)
            if progress is not None and progress.completed is not None:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert progress is not None and progress.completed is not None
    assert progress.started.window_start == datetime.combine(TODAY, time(0), UTC) - timedelta(
        hours=1
    )
    assert sorted(vo for _, vo in await observations(pool, RUN_ID)) == sorted(expected)


async def test_a_second_node_finds_the_nights_run_done_and_appends_nothing(pool):
    async with vendor() as (url, client, session):
        await seed(pool, session, url, known=2, unknown=1)
        first = await reconcile_day(pool, {"sandbox": client}, TODAY, tz=UTC, clock=fixed_clock)
        count = await pool.fetchval("SELECT count(*) FROM events")
        second = await reconcile_day(pool, {"sandbox": client}, TODAY, tz=UTC, clock=fixed_clock)
    assert first == second == []
    assert await pool.fetchval("SELECT count(*) FROM events") == count
    types = [e.type for e in await store.read_stream(pool, f"reconciliation:{RUN_ID}")]
    assert types.count("ReconciliationStarted") == 1


async def test_two_nodes_at_the_same_moment_run_the_night_once(pool):
    async with vendor() as (url, client, session):
        expected = await seed(pool, session, url, known=3, unknown=3)
        left = await asyncio.gather(
            *(
                reconcile_day(pool, {"sandbox": client}, TODAY, tz=UTC, clock=fixed_clock)
                for _ in range(2)
            )
        )
    # A node that found the run leased elsewhere reports it unfinished, to check again later.
    assert all(unfinished in ([], ["sandbox"]) for unfinished in left) and [] in left
    assert sorted(vo for _, vo in await observations(pool, RUN_ID)) == sorted(expected)


async def test_a_vendor_that_is_down_is_left_unfinished_for_a_later_check(pool):
    async def no_wait(_delay: float) -> None:
        return None

    async with vendor("error_5xx=1.0") as (_, client, _session):
        unfinished = await reconcile_day(
            pool, {"sandbox": client}, TODAY, tz=UTC, clock=fixed_clock, sleep=no_wait
        )
    assert unfinished == ["sandbox"]
    progress = await load_progress(pool, RUN_ID)
    assert progress is not None and progress.completed is None and progress.pages == 0


async def test_nights_missed_during_an_outage_are_caught_up_the_next_time_it_runs(pool):
    # Down over two nightly runs: it is now 03:00 the day after tomorrow, so tomorrow is due and
    # today, whose 02:00 run never happened, is owed too.
    two_nights_later = TOMORROW_3AM + timedelta(days=1)
    stop = asyncio.Event()
    missed = RUN_ID
    due = f"scheduled-sandbox-{(TODAY + timedelta(days=1)).isoformat()}"
    async with vendor() as (url, client, session):
        expected = await seed(pool, session, url, known=2, unknown=1)
        task = asyncio.create_task(
            run_schedule(pool, {"sandbox": client}, stop, tz=UTC, clock=lambda: two_nights_later)
        )
        for _ in range(200):
            runs = [await load_progress(pool, run_id) for run_id in (missed, due)]
            if all(run is not None and run.completed is not None for run in runs):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert all(run is not None and run.completed is not None for run in runs)
    assert sorted(vo for _, vo in await observations(pool, missed)) == sorted(expected)
    # Nothing is owed for the days before the log's first event (today's seed).
    before = f"scheduled-sandbox-{(TODAY - timedelta(days=1)).isoformat()}"
    assert await load_progress(pool, before) is None
