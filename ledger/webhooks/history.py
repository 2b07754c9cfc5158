"""What was announced to a client's endpoints, and every attempt to deliver it: the read side
of GET /api/v1/webhook-events. Attempts are read from the log (WebhookDeliveryAttempted), the
record of each one, through the index migrations/0011 keeps on the announcement they tried."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log.merchant_events import FinanceScope
from ledger.webhooks.endpoints import endpoint_stream

DeliveryStatus = Literal["pending", "delivered", "failed"]


class AttemptView(msgspec.Struct):
    endpoint_id: str
    attempt: int
    outcome: Literal["delivered", "failed", "given_up"]
    attempted_at: datetime
    latency_ms: int
    http_status: int | None
    error: str | None
    next_attempt_at: datetime | None


class DeliveryView(msgspec.Struct):
    endpoint_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


class WebhookEventView(msgspec.Struct):
    id: str
    type: str
    created_at: datetime
    # The body every delivery of it carries, as sent.
    payload: msgspec.Raw
    deliveries: list[DeliveryView]
    attempts: list[AttemptView]


# The page's events: those delivered (or due) to the client's endpoints that the caller's own
# finance scope may see ($7: an endpoint keeps its maker's scope, not every key of the client
# has it), filtered, in the order they happened; keyset paging on (occurred_at, id).
_PAGE = """
    SELECT DISTINCT d.occurred_at, d.event_id FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN webhook_events w ON w.id = d.event_id
    WHERE e.client_id = $1 AND webhook_visible(w.type, w.client_id, $1, $7)
      AND ($2::text IS NULL OR e.id = $2)
      AND ($3::text IS NULL OR d.status = $3)
      AND ($4::timestamptz IS NULL OR (d.occurred_at, d.event_id) > ($4, $5))
    ORDER BY d.occurred_at, d.event_id LIMIT $6"""
_DELIVERIES = """
    SELECT d.* FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.event_id = ANY($1::text[]) AND e.client_id = $2 ORDER BY d.endpoint_id"""
_ATTEMPTS = """
    SELECT stream_id, data FROM events
    WHERE type = 'WebhookDeliveryAttempted' AND webhook_attempted_event(data) = ANY($1::text[])
      AND stream_id = ANY($2::text[])
    ORDER BY position"""


async def page(
    conn: asyncpg.Connection | asyncpg.Pool,
    client_id: str,
    finance_scope: FinanceScope,
    *,
    endpoint_id: str | None,
    status: DeliveryStatus | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> tuple[list[WebhookEventView], tuple[datetime, str] | None]:
    """One page of the client's announcements, and the cursor of the next (None at the end)."""
    keys = await conn.fetch(
        _PAGE,
        client_id,
        endpoint_id,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
        finance_scope,
    )
    shown = keys[:limit]
    ids = [k["event_id"] for k in shown]
    events = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, type, occurred_at, payload FROM webhook_events WHERE id = ANY($1::text[])",
            ids,
        )
    }
    deliveries: dict[str, list[DeliveryView]] = {i: [] for i in ids}
    for row in await conn.fetch(_DELIVERIES, ids, client_id):
        deliveries[row["event_id"]].append(
            DeliveryView(
                endpoint_id=row["endpoint_id"],
                status=row["status"],
                attempts=row["attempts"],
                next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
                last_status=row["last_status"],
                last_error=row["last_error"],
                delivered_at=row["delivered_at"],
            )
        )
    streams = sorted({endpoint_stream(d.endpoint_id) for ds in deliveries.values() for d in ds})
    attempts: dict[str, list[AttemptView]] = {i: [] for i in ids}
    for row in await conn.fetch(_ATTEMPTS, ids, streams):
        attempted = ev.decode(row["data"])
        assert isinstance(attempted, ev.WebhookDeliveryAttempted)
        attempts[attempted.event_id].append(
            AttemptView(
                endpoint_id=row["stream_id"].removeprefix("webhook-endpoint:"),
                **{f: getattr(attempted, f) for f in _ATTEMPT_FIELDS},
            )
        )
    items = [
        WebhookEventView(
            id=i,
            type=events[i]["type"],
            created_at=events[i]["occurred_at"],
            payload=msgspec.Raw(events[i]["payload"]),
            deliveries=deliveries[i],
            attempts=attempts[i],
        )
        for i in ids
    ]
    more = len(keys) > limit
    return items, (shown[-1]["occurred_at"], shown[-1]["event_id"]) if more else None


_ATTEMPT_FIELDS = tuple(f for f in AttemptView.__struct_fields__ if f != "endpoint_id")


async def endpoints_that_had(
    conn: asyncpg.Connection | asyncpg.Pool,
    client_id: str,
    finance_scope: FinanceScope,
    event_id: str,
) -> list[str]:
    """The client's live endpoints that have a delivery of this announcement, if the caller's
    finance scope may see it (as on the page)."""
    rows = await conn.fetch(
        """SELECT d.endpoint_id FROM webhook_deliveries d
           JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN webhook_events w ON w.id = $1
           WHERE d.event_id = $1 AND e.client_id = $2 AND NOT e.deleted
             AND webhook_visible(w.type, w.client_id, $2, $3) ORDER BY 1""",
        event_id,
        client_id,
        finance_scope,
    )
    return [r["endpoint_id"] for r in rows]
