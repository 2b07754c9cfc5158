"""An attempt's answer recorded late (its deliverer lost the lease mid-send, and another node
delivered the event meanwhile) changes nothing the newer attempt settled: a stale 500 does not
put a delivered event back in the queue, and a stale 410 does not disable a healthy endpoint."""

from __future__ import annotations

import asyncpg

from ledger.log import store
from ledger.webhooks import endpoints
from ledger.webhooks.deliveries import Deliverer, Sent
from tests.integration.webhooks.test_lock_order import NOW, POLICY, VAULT, _endpoint, _one_pending


async def _queued(conn: asyncpg.Connection, endpoint_id: str) -> asyncpg.Record:
    await _one_pending(conn, endpoint_id)
    return await conn.fetchrow(
        "SELECT endpoint_id, event_id, attempts, queued_at FROM webhook_deliveries"
        " WHERE endpoint_id = $1",
        endpoint_id,
    )


async def test_a_late_answer_changes_nothing_a_newer_attempt_settled(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        endpoint_id = await _endpoint(conn)
        due = await _queued(conn, endpoint_id)
        old_node = Deliverer(VAULT, POLICY, lambda: NOW, lambda: 0.5)
        new_node = Deliverer(VAULT, POLICY, lambda: NOW, lambda: 0.5)
        await new_node._record(conn, due, Sent(200, 9, None, None), NOW)  # delivered
        await old_node._record(conn, due, Sent(410, 30, "HTTP 410", None), NOW)  # stale
        row = await conn.fetchrow(
            "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $1", endpoint_id
        )
        assert (row["status"], row["attempts"]) == ("delivered", 1)
        disabled = await conn.fetchval(
            "SELECT disabled FROM webhook_endpoints WHERE id = $1", endpoint_id
        )
        assert not disabled
        stream = await store.read_stream(conn, endpoints.endpoint_stream(endpoint_id))
        attempts = [e for e in stream if e.type == "WebhookDeliveryAttempted"]
        assert len(attempts) == 1, "the stale answer is not recorded as an attempt"
    finally:
        await conn.close()
