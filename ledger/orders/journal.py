"""Every vendor attempt recorded before it is sent and its outcome after, on the carried state.

The journal holds the order's state as of its last append and folds each of its own appends into
it, so recording an attempt costs one statement: no read of the stream's head before it, no
read of the stream after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from ledger.log import events as ev
from ledger.metrics import METRICS
from ledger.orders.model import OrderState
from ledger.orders.vault import CardVault
from ledger.text import printable
from ledger.vendors.base import Accepted, CardSecret, Fulfilled, Outcome, Rejected, Unknown


def outcome_event(vendor: str, attempt: int, outcome: Outcome, now: datetime) -> ev.Event:
    """The event recording one attempt's outcome. What the vendor said in its own words (a
    detail, an error code and message) is kept printable: an attempt whose record cannot be
    appended would leave the order unsettled for ever."""
    if isinstance(outcome, Unknown):
        return ev.VendorCallFailed(
            vendor=vendor,
            attempt=attempt,
            reason=outcome.reason,
            detail=printable(outcome.detail),
            failed_at=now,
            http_status=outcome.http_status,
            retry_after=outcome.retry_after,
        )
    answered = {
        "vendor": vendor,
        "attempt": attempt,
        "received_at": now,
        "vendor_order_id": outcome.vendor_order_id,
    }
    match outcome:
        case Fulfilled():
            card_stored = outcome.card is not None
            return ev.VendorResponseReceived(
                **answered,
                outcome="fulfilled",
                vendor_status=outcome.vendor_status,
                card_stored=card_stored,
                refunded=outcome.refunded,
            )
        case Accepted():
            return ev.VendorResponseReceived(
                **answered, outcome="accepted", vendor_status=outcome.vendor_status
            )
        case Rejected():
            return ev.VendorResponseReceived(
                **answered,
                outcome="rejected",
                http_status=outcome.http_status,
                code=printable(outcome.code),
                message=printable(outcome.message),
            )


class Recorder(Protocol):
    """Where the journal writes (ledger.orders.fulfilment.Fulfilment)."""

    pool: asyncpg.Pool
    vault: CardVault
    clock: Callable[[], datetime]

    async def record(
        self,
        conn: asyncpg.Connection,
        state: OrderState,
        events: Sequence[ev.Event],
        metadata: dict[str, Any],
    ) -> OrderState: ...


class Journal:
    """The AttemptJournal of one submission step; `state` and `card` are what it has written."""

    def __init__(self, owner: Recorder, state: OrderState, metadata: dict[str, Any]) -> None:
        self._owner, self._metadata = owner, metadata
        self.state = state
        self._attempts_before = state.attempts  # attempts numbered across the order's life
        self.card: CardSecret | None = None

    async def before_attempt(self, attempt: int) -> None:
        sent = ev.VendorRequestSent(
            vendor=self.state.vendor,
            vendor_reference=self.state.vendor_reference,
            attempt=self._attempts_before + attempt,
            sent_at=self._owner.clock(),
        )
        async with self._owner.pool.acquire() as conn:
            self.state = await self._owner.record(conn, self.state, [sent], self._metadata)

    async def after_attempt(self, attempt: int, outcome: Outcome) -> None:
        number = self._attempts_before + attempt
        event = outcome_event(self.state.vendor, number, outcome, self._owner.clock())
        METRICS.vendor_calls.labels(self.state.vendor, type(outcome).__name__.lower()).inc()
        async with self._owner.pool.acquire() as conn:
            if isinstance(outcome, Fulfilled) and outcome.card is not None:
                # The card is stored before the event that says it was: never a dangling claim.
                self.card = await self._owner.vault.store(conn, self.state.stream_id, outcome.card)
            self.state = await self._owner.record(conn, self.state, [event], self._metadata)
