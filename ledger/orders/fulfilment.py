"""Move a pending order forward with its vendor: submit, or look it up, and record every step.

The caller holds the order's lease. Every attempt is appended before it is sent and its outcome
after; no database transaction is open while the vendor is being called.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

import asyncpg
import structlog

from ledger.log import events as ev
from ledger.log import store
from ledger.orders.decisions import decide_after_lookup, next_vendor_step
from ledger.orders.journal import Journal
from ledger.orders.model import OrderState, carry, fold, is_due
from ledger.orders.schedule import DEFAULT_POLICY, RetryPolicy, retry_scheduled
from ledger.orders.vault import CardVault
from ledger.vendors.base import CardSecret, Unknown, VendorOrderRequest, VendorUnavailable
from ledger.vendors.client import VendorClient

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]


class Lookup(NamedTuple):
    """What asking the vendor about an order told us."""

    answered: bool  # False: the vendor could not say (retry later, never resubmit blind)
    found: bool = False
    reason: str = ""
    retry_after: float | None = None
    state: OrderState | None = None  # after recording the answer
    card: CardSecret | None = None  # the card stored from it, if any


def _same_schedule(before: OrderState, after: OrderState) -> bool:
    """Whether what an order is owed, and when, is unchanged between two of its states."""
    return (before.status, before.hint_pending, before.next_attempt_at, before.retries) == (
        after.status,
        after.hint_pending,
        after.next_attempt_at,
        after.retries,
    )


class Driven(NamedTuple):
    """An order after a step: its state, and the card the step stored (kept for the answer)."""

    state: OrderState | None
    card: CardSecret | None = None


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

    async def load(
        self, stream_id: str, conn: asyncpg.Connection | None = None
    ) -> OrderState | None:
        return fold(await store.read_stream(conn or self.pool, stream_id))

    async def record(
        self,
        conn: asyncpg.Connection,
        state: OrderState,
        events: Sequence[ev.Event],
        metadata: dict[str, Any],
    ) -> OrderState:
        """Append facts that hold whatever the stream's state (an attempt, an answer) after the
        carried `state`; the state after them.

        Appended at the carried version, so no read of the head comes first. If another writer
        got in first (a webhook's hint), its events belong in the fold: the stream is read
        again and the append made at the new head.
        """
        while True:
            try:
                stamps = await store.append_stamped(
                    conn, state.stream_id, events, state.version, metadata=metadata
                )
            except store.ConcurrencyConflict:
                fresh = await self.load(state.stream_id, conn)
                assert fresh is not None  # a stream, once written, is never gone
                state = fresh
                continue
            after = carry(state, state.stream_id, events, stamps)
            assert after is not None  # events on an existing order always fold
            return after

    async def advance(
        self, stream_id: str, metadata: dict[str, Any], *, on_schedule: bool = True
    ) -> OrderState | None:
        """The step an order is owed; its state after. The completer's path (`on_schedule`)
        does nothing before the order's own schedule says so: its due query reads the read
        model, which may not have seen the RetryScheduled the last step wrote."""
        state = await self.load(stream_id)
        if state is None or state.next_attempt_at is None:
            return state
        if on_schedule and not is_due(state, self.clock()):
            return state
        return (await self._step(state, metadata)).state

    async def drive(self, state: OrderState, metadata: dict[str, Any]) -> Driven:
        """Intake's path: the step of an order it has just recorded, from the state it holds."""
        if state.next_attempt_at is None:
            return Driven(state)
        return await self._step(state, metadata)

    async def confirm(self, stream_id: str, metadata: dict[str, Any]) -> OrderState | None:
        """Ask the vendor about an order a webhook mentioned, unless that is answered already."""
        state = await self.load(stream_id)
        if state is None or not state.hint_pending:
            return state
        return (await self._step(state, metadata)).state

    async def defer(self, stream_id: str, reason: str, metadata: dict[str, Any]) -> None:
        """Put an owed order back on the schedule after a step that failed without an outcome."""
        state = await self.load(stream_id)
        if state is not None:
            await self._reschedule(state, state, reason, None, metadata)

    async def _step(self, state: OrderState, metadata: dict[str, Any]) -> Driven:
        client = self.vendors.get(state.vendor)
        if client is None:
            return Driven(
                await self._reschedule(state, state, "vendor_not_configured", None, metadata)
            )
        step = next_vendor_step(
            state,
            self.clock(),
            client.adapter.key_retention,
            by_reference=client.adapter.looks_up_by_reference,
        )
        reason, retry_after, after, card = "vendor_pending", None, state, None
        if step == "lookup":
            # Whoever asks, a lookup a webhook made due is that webhook's confirmation.
            cause = "webhook" if state.hint_pending else "completer"
            looked = await self._look_up(client, state, metadata, cause)
            reason, retry_after = looked.reason, looked.retry_after
            after, card = looked.state or state, looked.card
            # Not found: the vendor holds no such order, so sending it (same key) is safe, once
            # an attempt still finishing there would have shown (policy.not_found_settle_s).
            step = "submit" if looked.answered and not looked.found else "none"
            if step == "submit" and state.attempts > 0:
                wait = (await self._settles_at(state) - self.clock()).total_seconds()
                if wait > 0:
                    step, reason, retry_after = "none", "vendor_settling", wait
        if step == "submit" and state.status == "pending":
            request = VendorOrderRequest(
                reference=state.vendor_reference,
                amount_minor=state.amount_minor,
                currency=state.currency,
                brand_id=state.brand_id,
                customer_id=state.customer_id,
            )
            may_have_it = state.uncertain or state.unanswered_attempt
            journal = Journal(self, after, metadata)
            outcome = await client.submit(request, journal, vendor_may_have_it=may_have_it)
            if isinstance(outcome, Unknown):
                reason, retry_after = outcome.reason, outcome.retry_after
            after, card = journal.state, journal.card or card
        rescheduled = await self._reschedule(state, after, reason, retry_after, metadata)
        return Driven(rescheduled, card)

    async def _settles_at(self, state: OrderState) -> datetime:
        """When the order's last attempt has had the policy's not_found_settle_s to show at the
        vendor. Read from the log on this rare path (a look-up that found nothing after one)."""
        sent = [
            e.decode()
            for e in await store.read_stream(self.pool, state.stream_id)
            if e.type == "VendorRequestSent"
        ]
        assert isinstance(sent[-1], ev.VendorRequestSent)  # attempts > 0: one was sent
        return sent[-1].sent_at + timedelta(seconds=self._policy.not_found_settle_s)

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
        against the version `after` carries: anything landing meanwhile is a reason to look
        again (it made the order due, or settled it), not to push it back.
        """
        while True:
            if after.next_attempt_at is None or (after.hint_pending and not before.hint_pending):
                return after
            now = self.clock()
            event = retry_scheduled(after, reason, now, self._policy, self._jitter(), retry_after)
            try:
                stamps = await store.append_stamped(
                    self.pool, after.stream_id, [event], after.version, metadata=metadata
                )
            except store.ConcurrencyConflict:
                fresh = await self.load(after.stream_id) or after
                if not _same_schedule(after, fresh):
                    return fresh  # it became due, was settled, or was scheduled by another
                # Only facts that change nothing owed (a replay, a refused retry) got in while
                # the vendor was being asked: the schedule decided stands, at the new head.
                after = fresh
                continue
            return carry(after, after.stream_id, [event], stamps) or after

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
        card = None
        async with self.pool.acquire() as conn:
            if view is not None and view.card is not None:
                # The card is stored before the event that says it was: never a dangling claim.
                card = await self.vault.store(conn, state.stream_id, view.card)
            settled = decide_after_lookup(
                state, status, observed.vendor_order_id, now, card_stored=card is not None
            )
            after = await self.record(conn, state, [observed, *settled], metadata)
        return Lookup(True, found=view is not None, reason="vendor_pending", state=after, card=card)
