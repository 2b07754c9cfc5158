"""A record nobody ordered, resolved while its run is still recording pages: the run goes on.
Its resolution went on the run's own stream, which the run appends to at strict versions, and
the run's next page or completion then failed (a manual run stayed incomplete)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.auth import Principal
from ledger.http.problems import Problem
from ledger.http.routes.discrepancies import resolve_discrepancy
from ledger.log import events as ev
from ledger.log import store
from projections.checkpoints import ensure_projection
from projections.discrepancies.projection import ReconciliationProjection
from tests.integration.projections.test_discrepancies import seen
from tests.waiting import caught_up

NOW = datetime.now(UTC)
ADMIN = Principal(client_id="ops", key_id="k_ops", name="ops", scopes=frozenset({"admin"}))


async def test_resolving_an_unmatched_record_mid_run_lets_the_run_complete(pool):
    run_stream = "reconciliation:run-1"
    started = ev.ReconciliationStarted(
        run_id="run-1",
        vendor="sandbox",
        window_start=NOW - timedelta(days=1),
        window_end=NOW,
        started_at=NOW,
    )
    # Page 1: a record whose reference is none of ours, kept on the run's stream.
    version = await store.append(pool, run_stream, [started, seen("run-1", "stranger", "vo_x")], 0)
    projection = ReconciliationProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        await caught_up(conn, projection)
    finding = await pool.fetchval("SELECT id FROM discrepancies WHERE kind = 'missing_internally'")

    await resolve_discrepancy(pool, finding, "acknowledge", "not ours: test order", ADMIN, "r1")
    with pytest.raises(Problem) as twice:
        await resolve_discrepancy(pool, finding, "acknowledge", "again", ADMIN, "r2")
    assert twice.value.status == 409

    done = ev.ReconciliationCompleted(run_id="run-1", records_seen=1, pages=1, completed_at=NOW)
    assert await store.append(pool, run_stream, [done], version) == version + 1
    async with pool.acquire() as conn:
        await caught_up(conn, projection)
    state = await pool.fetchval("SELECT state FROM discrepancies WHERE id = $1", finding)
    assert state == "resolved"
