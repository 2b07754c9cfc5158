"""Sending announcements again, at any age: a resend of one, a recover of everything an endpoint
should have had since a time. Each is recorded (WebhookEventsRequeued) in the endpoint's stream
in the same transaction as the deliveries it re-queued; the retry window starts again.

Re-queued deliveries keep their place in their order's sequence, so a resend of an order's
first event goes out before anything later for that order that is still waiting.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ledger.log import events as ev
from ledger.log import store
from ledger.webhooks.endpoints import Endpoint, endpoint_stream

_REQUEUE = """
    UPDATE webhook_deliveries d SET status = 'pending', attempts = 0, queued_at = $3,
        next_attempt_at = $3
    WHERE d.endpoint_id = $1 AND d.event_id = $2"""
# The rows are locked in event id order, whatever plan finds them: a plain UPDATE locks them in
# the order its scan meets them, and two recovers of one endpoint whose plans differ (a table
# scan for a long span, the listing index for a short one) each held rows the other waited for.
_REQUEUE_SINCE = """
    WITH since AS (
        SELECT event_id FROM webhook_deliveries WHERE endpoint_id = $1 AND occurred_at >= $2
        ORDER BY event_id FOR UPDATE)
    UPDATE webhook_deliveries d SET status = 'pending', attempts = 0, queued_at = $3,
        next_attempt_at = $3
    FROM since WHERE d.endpoint_id = $1 AND d.event_id = since.event_id"""
# Announcements since then that the endpoint never had a delivery of (it did not subscribe to
# the type yet, or was made later), which it subscribes to and may see now. In event id order
# too: a second recover inserting the same row waits for the first's.
_QUEUE_MISSED = """
    INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key, seq, occurred_at,
                                    queued_at, next_attempt_at)
    SELECT $1, a.id, a.ordering_key, a.seq, a.occurred_at, $3, $3 FROM webhook_events a
    WHERE a.occurred_at >= $2 AND a.type = ANY($4::text[])
      AND webhook_visible(a.type, a.client_id, $5, $6)
    ORDER BY a.id
    ON CONFLICT DO NOTHING"""


def _count(status: str) -> int:
    return int(status.split()[-1])


async def _wake_deliverer(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_notify($1, '')", store.NOTIFY_CHANNEL)


async def resend(
    conn: asyncpg.Connection,
    endpoint_ids: list[str],
    event_id: str,
    now: datetime,
    actor: str,
    metadata: dict[str, object],
) -> int:
    """Queue `event_id` again for each of these endpoints (the caller's, that had it)."""
    requeued = 0
    async with conn.transaction():
        for endpoint_id in endpoint_ids:
            count = _count(await conn.execute(_REQUEUE, endpoint_id, event_id, now))
            requeued += count
            if count:
                requeue = ev.WebhookEventsRequeued(
                    reason="resend", count=count, requested_at=now, actor=actor, event_id=event_id
                )
                await store.append_observed(
                    conn, endpoint_stream(endpoint_id), [requeue], metadata=metadata
                )
        await _wake_deliverer(conn)
    return requeued


async def recover(
    conn: asyncpg.Connection,
    endpoint: Endpoint,
    since: datetime,
    now: datetime,
    actor: str,
    metadata: dict[str, object],
) -> int:
    """Queue again every announcement since `since` the endpoint had, or should have had."""
    async with conn.transaction():
        count = _count(await conn.execute(_REQUEUE_SINCE, endpoint.id, since, now))
        count += _count(
            await conn.execute(
                _QUEUE_MISSED,
                endpoint.id,
                since,
                now,
                endpoint.events,
                endpoint.client_id,
                endpoint.finance_scope,
            )
        )
        requeue = ev.WebhookEventsRequeued(
            reason="recover", count=count, requested_at=now, actor=actor, since=since
        )
        await store.append_observed(
            conn, endpoint_stream(endpoint.id), [requeue], metadata=metadata
        )
        await _wake_deliverer(conn)
    return count
