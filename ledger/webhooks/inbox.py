"""Accepting vendor webhooks: verify the raw bytes, dedupe by id, append; never call the vendor.

A webhook is a hint. It is recorded (WebhookReceived) and the confirmer asks the vendor what is
true; only that answer moves an order.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import asyncpg

from ledger.log import events as ev
from ledger.log import store
from ledger.vendors.base import MalformedWebhook, WebhookHint


def dedupe_id(hint: WebhookHint, header_id: str | None) -> str:
    """The id a redelivery repeats: the signature header's, else the body's."""
    webhook_id = header_id or hint.webhook_id
    if not webhook_id:
        raise MalformedWebhook("the webhook carries no id to deduplicate it by")
    return webhook_id


# Webhooks that name the order only by the vendor's id (Tremendous) find it in the order read
# model once the vendor's answer is recorded there (indexed on vendor, vendor_order_id). One
# racing that answer is kept on the vendor's webhook stream: the look-up the order is due for
# anyway, and reconciliation, settle it.
_BY_VENDOR_ID = "SELECT stream_id FROM orders_view WHERE vendor = $1 AND vendor_order_id = $2"


async def record(
    pool: asyncpg.Pool,
    vendor: str,
    webhook_id: str,
    hint: WebhookHint,
    body: bytes,
    now: datetime,
    metadata: dict[str, object],
) -> bool:
    """Append WebhookReceived once per webhook id; False for a redelivery."""
    received = ev.WebhookReceived(
        vendor=vendor,
        webhook_id=webhook_id,
        event_type=hint.event_type,
        reported_status=hint.status,
        reference=hint.reference,
        vendor_order_id=hint.vendor_order_id,
        body_sha256=hashlib.sha256(body).hexdigest(),
        received_at=now,
    )
    async with pool.acquire() as conn, conn.transaction():
        stream_id = await conn.fetchval(
            "SELECT stream_id FROM order_references WHERE vendor = $1 AND vendor_reference = $2",
            vendor,
            hint.reference,
        )
        if stream_id is None and hint.vendor_order_id is not None:
            stream_id = await conn.fetchval(_BY_VENDOR_ID, vendor, hint.vendor_order_id)
        stream_id = stream_id or f"webhooks:{vendor}"
        # The receipt row is the dedupe: a racing duplicate waits on it, then inserts nothing.
        inserted = await conn.fetchval(
            "INSERT INTO webhook_receipts (vendor, webhook_id, stream_id) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true",
            vendor,
            webhook_id,
            stream_id,
        )
        if not inserted:
            return False
        await store.append_observed(conn, stream_id, [received], metadata=metadata)
    return True
