"""The submission use case: write-ahead, lease, decide, then call the vendor outside any tx.

Phases (after Brandur Leach's atomic phases), each committed on its own:
1. on one pooled connection, read the order's stream; unless it is settled, take its lease (in
   flight elsewhere: 409); decide, and append the decision (a new order's OrderRequested and
   its reference index are one statement);
2. for a new order, drive it with the vendor in a background task that keeps the lease, from
   the state phase 1 folded: each append is made at the version carried, and folded into it;
3. answer with what is known when the task ends (its state and card, in memory) or when the
   sync budget runs out (read from the log) (201/202).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, NamedTuple

import asyncpg
import structlog

from ledger.log import events as ev
from ledger.log import store
from ledger.log.leases import OrderLeases
from ledger.orders.decisions import Submission, SubmitOrder, decide_submission
from ledger.orders.fulfilment import Clock, Driven, Fulfilment
from ledger.orders.model import OrderState, carry, shows_card
from ledger.vendors.base import CardSecret

log = structlog.get_logger(__name__)

# Rounds of "read, decide, append" before giving up; a round is repeated only while another
# request is creating the same order, which takes milliseconds.
APPEND_RETRIES = 16
# When another request holds the lease but has not yet written the order, it is about to:
# wait this long, in total, for the OrderRequested to appear before answering 409.
CREATE_WAIT_S = 0.2


# Indexes the new order's vendor reference (webhooks find orders by it), in the statement that
# appends its OrderRequested: both or neither, in one round trip.
_INDEX_REFERENCE = store.Alongside(
    "INSERT INTO order_references (vendor, vendor_reference, stream_id) VALUES ($6, $7, $1)", ()
)


async def record_new_order(
    conn: asyncpg.Connection, requested: ev.OrderRequested, stream_id: str, metadata: dict[str, Any]
) -> OrderState:
    """Append OrderRequested and index its vendor reference, atomically; the order's state."""
    index = _INDEX_REFERENCE._replace(args=(requested.vendor, requested.vendor_reference))
    stamps = await store.append_stamped(
        conn, stream_id, [requested], 0, metadata=metadata, alongside=index
    )
    state = carry(None, stream_id, [requested], stamps)
    assert state is not None  # an OrderRequested always starts an order
    return state


class SubmitResult(NamedTuple):
    outcome: Submission
    state: OrderState | None
    card: CardSecret | None = None  # the order's card, when its owner is shown one


class Intake:
    def __init__(
        self, fulfilment: Fulfilment, leases: OrderLeases, clock: Clock, sync_budget_s: float
    ) -> None:
        self._fulfilment, self._leases, self._clock = fulfilment, leases, clock
        self._pool, self._vault = fulfilment.pool, fulfilment.vault
        self._budget = sync_budget_s
        self._tasks: set[asyncio.Task] = set()

    async def submit(
        self, cmd: SubmitOrder, metadata: dict[str, Any], *, drive: bool = True
    ) -> SubmitResult:
        """Record the request; for a new order, drive it with the vendor within the budget.

        With drive=False a new order is only written (pending) and the completer sends it:
        the path for bulk batches, whose rows are paced by the completer, not the request.
        """
        stream_id = cmd.stream_id
        waited = 0.0
        for _ in range(APPEND_RETRIES):
            leased = handed_over = False
            try:
                # Phase 1 on one connection: read, decide, and record the decision.
                async with self._pool.acquire() as conn:
                    state = await self._fulfilment.load(stream_id, conn)
                    if state is None or state.status == "pending":
                        # Being created or driven, perhaps: the lease says whether by another.
                        # A settled order needs none (its replay is the answer on record).
                        leased = await self._leases.try_acquire(stream_id)
                        if leased and state is not None:
                            # Whoever held it last may have moved it on before letting go.
                            state = await self._fulfilment.load(stream_id, conn)
                    decided = None
                    if state is not None or leased:
                        decided = await self._decide(conn, cmd, state, leased, metadata)
                if state is None and not leased:
                    # Its creator holds the lease but has not written it yet: it is about to.
                    if waited >= CREATE_WAIT_S:
                        return SubmitResult("in_flight", None)
                    await asyncio.sleep(CREATE_WAIT_S / 10)
                    waited += CREATE_WAIT_S / 10
                    continue
                if decided is None:
                    continue  # created meanwhile by a writer without our lease: decide again
                if decided.outcome != "create" or not drive:
                    return decided
                assert decided.state is not None
                handed_over = True
                return await self._drive_within_budget(decided.state, metadata)
            finally:
                if leased and not handed_over:
                    await self._leases.release(stream_id)
        raise RuntimeError(f"could not append to {stream_id} after {APPEND_RETRIES} attempts")

    async def _decide(
        self,
        conn: asyncpg.Connection,
        cmd: SubmitOrder,
        state: OrderState | None,
        leased: bool,
        metadata: dict[str, Any],
    ) -> SubmitResult | None:
        """Decide on the request and record the decision; None: lost the race to create."""
        outcome, events = decide_submission(state, cmd, in_flight=not leased, now=self._clock())
        if outcome != "create":
            assert state is not None  # only a new order is created from nothing
            # The order's fingerprint never changes and the lease settles "in flight", so
            # this record stays true whatever else lands first: it goes at the head.
            await self._fulfilment.record(conn, state, events, metadata)
            card = None
            if outcome == "replay" and shows_card(state):
                card = await self._vault.load(conn, state.stream_id)
            return SubmitResult(outcome, state, card)
        try:
            created = await record_new_order(conn, events[0], cmd.stream_id, metadata)
        except store.ConcurrencyConflict:
            return None
        return SubmitResult(outcome, created)

    async def _drive_within_budget(
        self, state: OrderState, metadata: dict[str, Any]
    ) -> SubmitResult:
        task = asyncio.create_task(self._drive(state, metadata))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # shield: the budget ends our wait, not the vendor work, which goes on in the background.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), self._budget)
        if task.done() and not task.cancelled() and (driven := task.result()) is not None:
            after, card = driven.state, driven.card
        else:
            # Still with the vendor (or its step failed): the answer is what the log says now.
            after, card = await self._fulfilment.load(state.stream_id), None
        if after is None or not shows_card(after):
            card = None
        elif card is None:
            card = await self._vault.load(self._pool, after.stream_id)
        return SubmitResult("create", after, card)

    async def _drive(self, state: OrderState, metadata: dict[str, Any]) -> Driven | None:
        try:
            return await self._fulfilment.drive(state, metadata)
        except Exception:
            # The order stays pending and leased to nobody: the completer will pick it up.
            log.exception("driving order failed", stream_id=state.stream_id)
            return None
        finally:
            await self._leases.release(state.stream_id)

    async def close(self, grace_s: float = 10.0) -> None:
        """Let in-flight vendor calls finish (they are journaled either way)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
