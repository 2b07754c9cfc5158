"""Move a pending order forward with its vendor: submit, or look it up, and record every step.

The caller holds the order's lease. Every attempt is appended before it is sent and its outcome
after; no database transaction is open while the vendor is being called.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple

import asyncpg
import structlog

from ledger.log import events as ev
from ledger.log import store
from ledger.metrics import METRICS
from ledger.orders.decisions import decide_after_lookup, next_vendor_step
from ledger.orders.model import OrderState, fold, is_due
from ledger.orders.schedule import DEFAULT_POLICY, RetryPolicy, retry_scheduled
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
        METRICS.vendor_calls.labels(self._state.vendor, type(outcome).__name__.lower()).inc()
        await self._owner.append(self._state.stream_id, [event], self._metadata)


class Lookup(NamedTuple):
    """What asking the vendor about an order told us."""

    answered: bool  # False: the vendor could not say (retry later, never resubmit blind)
    found: bool = False
    reason: str = ""
    retry_after: float | None = None


class Fulfilment:
    """One step at a time for an order the caller holds the lease of.

    A step is a submission (with retries inside the vendor client) or a lookup by reference;
    whenever it leaves the order owed something, a RetryScheduled says when the completer
    comes back, so the schedule lives in the log and survives a restart.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        vendors: Mapping[str, VendorClient],
        vault: CardVault,
        clock: Clock,
        policy: RetryPolicy = DEFAULT_POLICY,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.pool, self.vendors, self.vault, self.clock = pool, vendors, vault, clock
        self._policy, self._jitter = policy, jitter

    async def load(self, stream_id: str) -> OrderState | None:
        return fold(await store.read_stream(self.pool, stream_id))

    async def append(
        self, stream_id: str, events: list[ev.Event], metadata: dict[str, Any]
    ) -> None:
        await store.append_observed(self.pool, stream_id, events, metadata=metadata)

    async def advance(
        self, stream_id: str, metadata: dict[str, Any], *, on_schedule: bool = True
    ) -> OrderState | None:
        """The step an order is owed; its state after. The completer's path (`on_schedule`)
        does nothing before the order's own schedule says so: its due query reads the read
        model, which may not have seen the RetryScheduled the last step wrote. Intake drives
        the order it has just recorded at once."""
        state = await self.load(stream_id)
        if state is None or state.next_attempt_at is None:
            return state
        if on_schedule and not is_due(state, self.clock()):
            return state
        return await self._step(state, metadata)

    async def confirm(self, stream_id: str, metadata: dict[str, Any]) -> OrderState | None:
        """Ask the vendor about an order a webhook mentioned, unless that is answered already."""
        state = await self.load(stream_id)
        if state is None or not state.hint_pending:
            return state
        return await self._step(state, metadata)

    async def defer(self, stream_id: str, reason: str, metadata: dict[str, Any]) -> None:
        """Put an owed order back on the schedule after a step that failed without an outcome."""
        state = await self.load(stream_id)
        if state is not None:
            await self._reschedule(state, state, reason, None, metadata)

    async def _step(self, state: OrderState, metadata: dict[str, Any]) -> OrderState:
        client = self.vendors.get(state.vendor)
        if client is None:
            return await self._reschedule(state, state, "vendor_not_configured", None, metadata)
        step = next_vendor_step(
            state,
            self.clock(),
            client.adapter.key_retention,
            by_reference=client.adapter.looks_up_by_reference,
        )
        reason, retry_after = "vendor_pending", None
        if step == "lookup":
            # Whoever asks, a lookup a webhook made due is that webhook's confirmation.
            cause = "webhook" if state.hint_pending else "completer"
            looked = await self._look_up(client, state, metadata, cause)
            reason, retry_after = looked.reason, looked.retry_after
            # Not found: the vendor holds no such order, so sending it (same key) is safe.
            step = "submit" if looked.answered and not looked.found else "none"
        if step == "submit" and state.status == "pending":
            request = VendorOrderRequest(
                reference=state.vendor_reference,
                amount_minor=state.amount_minor,
                currency=state.currency,
                brand_id=state.brand_id,
                customer_id=state.customer_id,
            )
            may_have_it = state.uncertain or state.unanswered_attempt
            journal = _Journal(self, state, metadata)
            outcome = await client.submit(request, journal, vendor_may_have_it=may_have_it)
            if isinstance(outcome, Unknown):
                reason, retry_after = outcome.reason, outcome.retry_after
        after = await self.load(state.stream_id)
        assert after is not None  # the stream existed when the step began
        return await self._reschedule(state, after, reason, retry_after, metadata)

    async def _reschedule(
        self,
        before: OrderState,
        after: OrderState,
        reason: str,
        retry_after: float | None,
        metadata: dict[str, Any],
    ) -> OrderState:
        """Append when the order is worked next, if it is still owed something.

        A hint that arrived during the step keeps the order due now. The append is checked
        against the version just read: anything landing meanwhile is a reason to look again
        (it made the order due, or settled it), not to push it back.
        """
        if after.next_attempt_at is None or (after.hint_pending and not before.hint_pending):
            return after
        now = self.clock()
        event = retry_scheduled(after, reason, now, self._policy, self._jitter(), retry_after)
        try:
            await store.append(
                self.pool, after.stream_id, [event], after.version, metadata=metadata
            )
        except store.ConcurrencyConflict:
            return await self.load(after.stream_id) or after
        return await self.load(after.stream_id) or after

    async def _look_up(
        self,
        client: VendorClient,
        state: OrderState,
        metadata: dict[str, Any],
        cause: Literal["webhook", "completer"],
    ) -> Lookup:
        """Ask the vendor for its record, and record what it said (and what that settles)."""
        try:
            view = await client.lookup(state.vendor_reference, state.vendor_order_id)
        except VendorUnavailable as exc:
            log.info("vendor lookup unavailable", stream_id=state.stream_id, reason=exc.reason)
            return Lookup(False, reason=f"lookup_{exc.reason}", retry_after=exc.retry_after)
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
        card_stored = False
        if view is not None and view.card is not None:
            # The card is stored before the event that says it was: never a dangling claim.
            await self.vault.store(self.pool, state.stream_id, view.card)
            card_stored = True
        settled = decide_after_lookup(
            state, status, observed.vendor_order_id, now, card_stored=card_stored
        )
        await self.append(state.stream_id, [observed, *settled], metadata)
        return Lookup(True, found=view is not None, reason="vendor_pending")
