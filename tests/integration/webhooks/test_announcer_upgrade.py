"""While an upgrade rebuilds the discrepancy read model for a new shape, finance announcements
wait for it, and order announcements go on: the finance query named a column the old tables
lacked, and the announcer restarted at every batch until the swap."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger.log import events as ev
from ledger.log import store
from ledger.webhooks.announcer import FINANCE, NAME, Announcer
from projections.base import schema_fingerprint
from projections.checkpoints import ensure_projection
from projections.discrepancies.projection import ReconciliationProjection
from tests.factories import order_requested

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


async def _cursor(conn, name: str) -> store.Cursor:
    row = await conn.fetchrow(
        "SELECT tx_id, position FROM projection_checkpoints WHERE name = $1", name
    )
    return store.Cursor(row["tx_id"], row["position"])


async def test_finance_announcements_wait_for_the_new_shape_and_order_ones_do_not(pool):
    projection = ReconciliationProjection()
    async with pool.acquire() as conn:
        await ensure_projection(conn, projection)
        for cursor in (NAME, FINANCE):  # as the announcer's start makes them
            await conn.execute("INSERT INTO projection_checkpoints (name) VALUES ($1)", cursor)
        await conn.execute(
            """INSERT INTO webhook_endpoints (id, client_id, url, events, description,
                   finance_scope, created_at, updated_at)
               VALUES ('we_1', 'ops', 'https://hooks.example.com', $1, '', 'all', $2, $2)""",
            ["order.pending", "reconciliation.completed"],
            NOW,
        )
        started = ev.ReconciliationStarted(
            run_id="run-1", vendor="sandbox", window_start=NOW, window_end=NOW, started_at=NOW
        )
        done = ev.ReconciliationCompleted(run_id="run-1", records_seen=0, pages=1, completed_at=NOW)
        await store.append(conn, "reconciliation:run-1", [started, done], 0)
        await store.append(conn, "order:ops:k1", [order_requested("k1", client="ops")], 0)
        head = await store.head(conn)
        # The live tables as the previous release left them, their rebuild not yet swapped in.
        await conn.execute("ALTER TABLE discrepancies DROP COLUMN reopened_run")
        await conn.execute(
            "UPDATE projection_checkpoints SET schema_hash = 'previous', tx_id = $1,"
            " position = $2 WHERE name = 'discrepancies'",
            *head,
        )
        announcer = Announcer(lambda: NOW)
        await announcer.step(conn)  # raised UndefinedColumnError before
        assert await _cursor(conn, NAME) == head
        assert await _cursor(conn, FINANCE) == store.CURSOR_ZERO

        # The swap: the new shape is live, and what waited is announced.
        await conn.execute("ALTER TABLE discrepancies ADD COLUMN reopened_run text")
        await conn.execute(
            "UPDATE projection_checkpoints SET schema_hash = $1 WHERE name = 'discrepancies'",
            schema_fingerprint(projection),
        )
        await announcer.step(conn)
        assert await _cursor(conn, FINANCE) == head
