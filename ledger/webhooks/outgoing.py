"""What a merchant is told, derived from the log (pure: no I/O, no clock, no ids made up).

An announcement's id is a hash of what it announces (its type and the event behind it), so a
rebuild or a second announcer derives the same id, and a receiver can dedupe by `webhook-id`.
Its body follows Standard Webhooks: `{"id", "type", "timestamp", "data"}`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from ledger.log.store import RecordedEvent
from ledger.orders.model import OrderState, evolve_recorded
from ledger.orders.view import order_view

# The events that can move an order's status (ledger/orders/model.py); any other leaves it.
STATUS_EVENTS = frozenset(
    {"OrderRequested", "VendorResponseReceived", "OrderFulfilled", "OrderFailed", "OrderRefunded"}
)
_encoder = msgspec.json.Encoder()


class Announcement(NamedTuple):
    id: str
    type: str
    # Whose it is: an order's or a discrepancy's client; None for vendor-wide (a run).
    client_id: str | None
    # Announcements of one key are delivered in seq order.
    ordering_key: str
    seq: int
    occurred_at: datetime
    payload: bytes


def announcement_id(kind: str, subject: str) -> str:
    return "evt_" + hashlib.sha256(f"{kind}\x00{subject}".encode()).hexdigest()[:32]


def announce(
    kind: str,
    subject: str,
    client_id: str | None,
    ordering: tuple[str, int],
    at: datetime,
    data: Any,
) -> Announcement:
    """An announcement of `kind` about `subject` (unique per kind), its body encoded once."""
    ident = announcement_id(kind, subject)
    body = _encoder.encode({"id": ident, "type": kind, "timestamp": at, "data": data})
    return Announcement(ident, kind, client_id, ordering[0], ordering[1], at, body)


def order_changes(
    stream: Iterable[RecordedEvent], announce_versions: set[int]
) -> Iterator[Announcement]:
    """Folding an order's events in version order: `order.<status>` at each listed version that
    changed the status, carrying the order as the API shows it then (never the card)."""
    state: OrderState | None = None
    for recorded in stream:
        before = state.status if state is not None else None
        state = evolve_recorded(state, recorded)
        if state is None or recorded.version not in announce_versions:
            continue
        if state.status != before:
            yield announce(
                f"order.{state.status}",
                f"{recorded.stream_id}:{recorded.version}",
                state.client_id,
                (recorded.stream_id, recorded.version),
                state.updated_at,
                order_view(state, None),
            )
