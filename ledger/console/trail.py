"""An order's trail as the console shows it: every event of its stream with its time and what
it recorded (the same events as GET /api/v1/orders/{key}/events). Card codes and PINs are not
in the log (they are in the vault, ledger/orders/vault.py), so no trail can show one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import msgspec

from ledger.log import store
from ledger.log.store import RecordedEvent

# What each kind of event is, in the words of someone reading the trail.
KINDS = {
    "OrderRequested": "request",
    "RequestReplayed": "request",
    "IdempotencyConflict": "request",
    "VendorRequestSent": "attempt",
    "VendorResponseReceived": "attempt",
    "VendorCallFailed": "attempt",
    "RetryScheduled": "attempt",
    "WebhookReceived": "webhook",
    "VendorStatusObserved": "confirmation",
}
# A value longer than this is cut in the table; the API's events route has it whole.
MAX_VALUE_CHARS = 120


class TrailEvent(NamedTuple):
    version: int
    type: str
    kind: str
    recorded_at: datetime
    fields: list[tuple[str, str]]


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def fields_of(data: bytes) -> list[tuple[str, str]]:
    decoded = msgspec.json.decode(data)
    if not isinstance(decoded, dict):
        return [("data", _text(decoded))]
    # The type is the row's own column; empty values say nothing.
    return [
        (k, _text(v)) for k, v in decoded.items() if k != "type" and v not in (None, "", [], {})
    ]


def trail(recorded: Iterable[RecordedEvent]) -> list[TrailEvent]:
    return [
        TrailEvent(e.version, e.type, KINDS.get(e.type, "state"), e.recorded_at, fields_of(e.data))
        for e in recorded
    ]


async def trail_of(db: asyncpg.Pool | asyncpg.Connection, stream_id: str) -> list[TrailEvent]:
    return trail(await store.read_stream(db, stream_id))
