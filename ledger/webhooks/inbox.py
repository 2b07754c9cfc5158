"""Accepting vendor webhooks: verify the raw bytes, dedupe by id, append; never call the vendor.

A webhook is a hint. It is recorded (WebhookReceived) and the confirmer asks the vendor what is
true; only that answer moves an order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

import asyncpg
import msgspec
import structlog

from ledger.db import DATABASE_ERRORS
from ledger.log import events as ev
from ledger.log import store
from ledger.vendors.base import MalformedWebhook, WebhookHint

log = structlog.get_logger(__name__)


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


# A refusal's headers are anyone's: aiohttp admits about a hundred of 8 KB each, which made one
# request an 800 KB row. Real vendors send a dozen or two, a proxy or CDN adds ten; the longest
# signature header is Tango's X.509 one, 684 characters of base64 for an RSA-4096 key. So these
# bounds cut only padding, and a row keeps at most about 33 KB of headers.
MAX_HEADERS = 32
MAX_HEADER_CHARS = 1024


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a row keeps: no credentials, a repeated name joined as HTTP joins it, at
    most MAX_HEADERS names and MAX_HEADER_CHARS a value; what is cut says so."""
    joined: dict[str, str] = {}
    for name, raw in headers.items():
        # aiohttp keeps bytes that are not UTF-8 as lone surrogates, which JSON cannot encode:
        # kept as the bytes they were, written \xNN.
        value = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        if name.lower() not in _NOT_KEPT:
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
    kept = {
        name: value
        if len(value) <= MAX_HEADER_CHARS
        else f"{value[:MAX_HEADER_CHARS]} ... ({len(value)} characters, cut)"
        for name, value in list(joined.items())[:MAX_HEADERS]
    }
    if len(joined) > MAX_HEADERS:
        kept["..."] = f"{len(joined) - MAX_HEADERS} more headers not kept"
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


# Retention is counted in days: pruning hourly leaves a row at most an hour past it.
PRUNE_EVERY_S = 3600.0
# Rows per DELETE: each a transaction of a few milliseconds, so months of backlog drain without
# one long lock or one burst of WAL. Nodes pruning at once need no lock between them (FOR
# UPDATE would need the UPDATE privilege the service has not): a DELETE that meets a row
# another is deleting waits for that commit and skips the row, and the node whose batch comes
# up short stops for the round while the other goes on.
PRUNE_BATCH = 5_000
_PRUNE = """
    DELETE FROM vendor_webhook_inbox WHERE id IN (
        SELECT id FROM vendor_webhook_inbox WHERE received_at < $1
        ORDER BY received_at LIMIT $2)"""


async def prune(
    db: asyncpg.Pool | asyncpg.Connection, older_than: datetime, stop: asyncio.Event | None = None
) -> int:
    """Delete the rows received before `older_than`, a batch at a time, until none is left or
    `stop` is set; how many went. The table is a diagnostic beside the log: every accepted
    webhook stays there as WebhookReceived, and webhook_receipts keeps deduplicating it."""
    deleted = 0
    while stop is None or not stop.is_set():
        status = await db.execute(_PRUNE, older_than, PRUNE_BATCH)
        batch = int(status.rsplit(" ", 1)[1])
        deleted += batch
        if batch < PRUNE_BATCH:
            break
    return deleted


async def prune_past_retention(
    pool: asyncpg.Pool, days: int, stop: asyncio.Event, clock: Callable[[], datetime]
) -> None:
    """Prune rows older than `days` at start and every PRUNE_EVERY_S until stop; 0 keeps
    every row. A database away is waited out to the next round."""
    while days and not stop.is_set():
        try:
            deleted = await prune(pool, clock() - timedelta(days=days), stop)
            if deleted:
                log.info("pruned the vendor webhook inbox", rows=deleted, days=days)
        except DATABASE_ERRORS as exc:
            log.warning("pruning the vendor webhook inbox failed, will retry", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PRUNE_EVERY_S)
