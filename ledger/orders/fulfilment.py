"""Move a pending order forward with its vendor: submit, or look it up, and record every step.

The caller holds the order's lease. Every attempt is appended before it is sent and its outcome
after; no database transaction is open while the vendor is being called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

import asyncpg
import structlog

from ledger.log import events as ev
from ledger.log import store
from ledger.metrics import METRICS
from ledger.orders.model import OrderState, decide_after_lookup, fold, next_vendor_step
from ledger.orders.vault import CardVault
from ledger.vendors.base import (
    Accepted,
    Fulfilled,
    Outcome,
    Rejected,
    Unknown,
    VendorOrderRequest,
    VendorUnavailable,
)
from ledger.vendors.client import VendorClient

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]


def outcome_event(vendor: str, attempt: int, outcome: Outcome, now: datetime) -> ev.Event:
    if isinstance(outcome, Unknown):
        return ev.VendorCallFailed(
            vendor=vendor,
            attempt=attempt,
            reason=outcome.reason,
            detail=outcome.detail,
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
                code=outcome.code,
                message=outcome.message,
            )


class _Journal:
    """Records each attempt durably before it is sent, and its outcome after."""

    def __init__(self, owner: Fulfilment, state: OrderState, metadata: dict[str, Any]) -> None:
        self._owner, self._state, self._metadata = owner, state, metadata

    async def before_attempt(self, attempt: int) -> None:
        sent = ev.VendorRequestSent(
            vendor=self._state.vendor,
            vendor_reference=self._state.vendor_reference,
            attempt=self._state.attempts + attempt,
            sent_at=self._owner.clock(),
        )
        await self._owner.append(self._state.stream_id, [sent], self._metadata)

    async def after_attempt(self, attempt: int, outcome: Outcome) -> None:
        if isinstance(outcome, Fulfilled) and outcome.card is not None:
            # The card is stored before the event that says it was: never a dangling claim.
            await self._owner.vault.store(self._owner.pool, self._state.stream_id, outcome.card)
        number = self._state.attempts + attempt
        event = outcome_event(self._state.vendor, number, outcome, self._owner.clock())
        METRICS.vendor_calls.inc(vendor=self._state.vendor, outcome=type(outcome).__name__.lower())
        await self._owner.append(self._state.stream_id, [event], self._metadata)


class Fulfilment:
    def __init__(
        self,
        pool: asyncpg.Pool,
        vendors: Mapping[str, VendorClient],
        vault: CardVault,
        clock: Clock,
    ) -> None:
        self.pool, self.vendors, self.vault, self.clock = pool, vendors, vault, clock

    async def load(self, stream_id: str) -> OrderState | None:
        return fold(await store.read_stream(self.pool, stream_id))

    async def append(
        self, stream_id: str, events: list[ev.Event], metadata: dict[str, Any]
    ) -> None:
        await store.append_observed(self.pool, stream_id, events, metadata=metadata)

    async def advance(self, stream_id: str, metadata: dict[str, Any]) -> OrderState | None:
        """One step for a pending order; returns its state afterwards."""
        state = await self.load(stream_id)
        client = self.vendors.get(state.vendor) if state else None
        if state is None or client is None:
            return state
        step = next_vendor_step(state, self.clock(), client.adapter.key_retention)
        if step == "lookup" and await self._confirm(client, state, metadata, "completer"):
            return await self.load(stream_id)
        if step != "none":
            request = VendorOrderRequest(
                reference=state.vendor_reference,
                amount_minor=state.amount_minor,
                currency=state.currency,
                brand_id=state.brand_id,
                customer_id=state.customer_id,
            )
            await client.submit(request, _Journal(self, state, metadata))
        return await self.load(stream_id)

    async def confirm(self, stream_id: str, metadata: dict[str, Any]) -> OrderState | None:
        """Ask the vendor about an order a webhook mentioned, and record what it says."""
        state = await self.load(stream_id)
        client = self.vendors.get(state.vendor) if state else None
        if state is not None and client is not None:
            await self._confirm(client, state, metadata, "webhook")
        return await self.load(stream_id)

    async def _confirm(
        self,
        client: VendorClient,
        state: OrderState,
        metadata: dict[str, Any],
        cause: Literal["webhook", "completer"],
    ) -> bool:
        """Ask the vendor for its record. True when that settled what to do (no resubmit)."""
        try:
            view = await client.adapter.get_order(state.vendor_reference)
        except VendorUnavailable as exc:
            log.info("vendor lookup unavailable", stream_id=state.stream_id, reason=exc.reason)
            return True  # cannot tell: never resubmit blind; try again later
        now = self.clock()
        status = view.status if view else "not_found"
        observed = ev.VendorStatusObserved(
            vendor=state.vendor,
            reference=state.vendor_reference,
            status=status,
            observed_at=now,
            cause=cause,
            vendor_order_id=view.vendor_order_id if view else None,
            amount_minor=view.amount_minor if view else None,
            currency=view.currency if view else None,
        )
        if view is not None and view.card is not None:
            await self.vault.store(self.pool, state.stream_id, view.card)
        settled = decide_after_lookup(state, status, observed.vendor_order_id, now)
        await self.append(state.stream_id, [observed, *settled], metadata)
        return view is not None
