"""Accepting vendor webhooks: verify the raw bytes, dedupe by id, append; never call the vendor.

A webhook is a hint. It is recorded (WebhookReceived) and the confirmer asks the vendor what is
true; only that answer moves an order.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log import store


class WebhookData(msgspec.Struct, frozen=True):
    vendor_order_id: str | None = None
    reference: str | None = None
    status: str | None = None


class WebhookBody(msgspec.Struct, frozen=True):
    type: str
    data: WebhookData
    id: str | None = None


_decoder = msgspec.json.Decoder(WebhookBody)


class MalformedWebhook(ValueError):
    """The signature was valid but the body is not a webhook we understand."""


def parse(body: bytes, header_id: str | None) -> tuple[str, WebhookBody]:
    try:
        webhook = _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedWebhook(str(exc)) from None
    webhook_id = header_id or webhook.id
    if not webhook_id:
        raise MalformedWebhook("the webhook carries no id to deduplicate it by")
    return webhook_id, webhook


async def record(
    pool: asyncpg.Pool,
    vendor: str,
    webhook_id: str,
    webhook: WebhookBody,
    body: bytes,
    now: datetime,
    metadata: dict[str, object],
) -> bool:
    """Append WebhookReceived once per webhook id; False for a redelivery."""
    reference = webhook.data.reference
    received = ev.WebhookReceived(
        vendor=vendor,
        webhook_id=webhook_id,
        event_type=webhook.type,
        reported_status=webhook.data.status,
        reference=reference,
        vendor_order_id=webhook.data.vendor_order_id,
        body_sha256=hashlib.sha256(body).hexdigest(),
        received_at=now,
    )
    async with pool.acquire() as conn, conn.transaction():
        stream_id = await conn.fetchval(
            "SELECT stream_id FROM order_references WHERE vendor = $1 AND vendor_reference = $2",
            vendor,
            reference,
        )
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
