"""Accepting vendor webhooks: verify the raw bytes, dedupe by id, append; never call the vendor.

A webhook is a hint. It is recorded (WebhookReceived) and the confirmer asks the vendor what is
true; only that answer moves an order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import asyncpg
import msgspec

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


class Delivery(NamedTuple):
    """One POST to /webhooks/{vendor} as the inbox keeps it: never the body, only its hash."""

    vendor: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime
    request_id: str

    def row(
        self,
        outcome: str,
        reason: str | None,
        hint: WebhookHint | None = None,
        webhook_id: str | None = None,
    ) -> tuple:
        return (
            self.vendor,
            self.received_at,
            outcome,
            reason,
            webhook_id,
            hint.event_type if hint else None,
            hint.reference if hint else None,
            msgspec.json.encode(self.headers).decode(),
            hashlib.sha256(self.body).hexdigest(),
            len(self.body),
            self.request_id,
        )


# Credentials a sender might add are not kept; the signature headers are (they say which
# check failed and why).
_NOT_KEPT = frozenset({"authorization", "cookie", "proxy-authorization"})
_INBOX = """INSERT INTO vendor_webhook_inbox (vendor, received_at, outcome, reason, webhook_id,
                event_type, reference, headers, body_sha256, body_bytes, request_id, stream_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12)"""


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() not in _NOT_KEPT:
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


async def record_refusal(pool: asyncpg.Pool, delivery: Delivery, reason: str) -> None:
    await pool.execute(_INBOX, *delivery.row("refused", reason), None)


async def record(
    pool: asyncpg.Pool,
    webhook_id: str,
    hint: WebhookHint,
    delivery: Delivery,
    metadata: dict[str, object],
) -> bool:
    """Append WebhookReceived once per webhook id; False for a redelivery. The inbox keeps
    both, in the same transaction."""
    vendor, body, now = delivery.vendor, delivery.body, delivery.received_at
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
        await conn.execute(
            _INBOX,
            *delivery.row("accepted" if inserted else "duplicate", None, hint, webhook_id),
            stream_id,
        )
        if not inserted:
            return False
        await store.append_observed(conn, stream_id, [received], metadata=metadata)
    return True


# Each delivery with the confirmation it led to: the first status the vendor was asked for
# about that order after the webhook arrived (the confirmer's lookup, or the completer's).
_LISTED = """
    SELECT i.*, o.data AS confirmation FROM vendor_webhook_inbox i
    LEFT JOIN LATERAL (
        SELECT data FROM events e
        WHERE i.outcome = 'accepted' AND e.stream_id = i.stream_id
          AND e.type = 'VendorStatusObserved' AND e.recorded_at >= i.received_at
        ORDER BY e.version LIMIT 1) o ON true
    WHERE ($1::text IS NULL OR i.vendor = $1) AND ($2::text IS NULL OR i.outcome = $2)
      AND ($3::bigint IS NULL OR i.id < $3)
    ORDER BY i.id DESC LIMIT $4"""


async def listed(
    pool: asyncpg.Pool, vendor: str | None, outcome: str | None, before: int | None, limit: int
) -> list[asyncpg.Record]:
    """Newest first; `before` is the id the previous page ended at."""
    return await pool.fetch(_LISTED, vendor, outcome, before, limit)
