"""The submission use case: write-ahead, lease, decide, then call the vendor outside any tx.

Phases (after Brandur Leach's atomic phases), each committed on its own:
1. take the order's lease (in flight elsewhere: 409), read its stream, decide, append;
2. for a new order, drive it with the vendor in a background task that keeps the lease;
3. answer with what is known when the task ends or the sync budget runs out (201/202).
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
from ledger.orders.fulfilment import Clock, Fulfilment
from ledger.orders.model import OrderState

log = structlog.get_logger(__name__)

# Rounds of "read, decide, append" before giving up; a round is repeated only while another
# request is creating the same order, which takes milliseconds.
APPEND_RETRIES = 16
# When another request holds the lease but has not yet written the order, it is about to:
# wait this long, in total, for the OrderRequested to appear before answering 409.
CREATE_WAIT_S = 0.2


async def record_new_order(
    pool: asyncpg.Pool, requested: ev.OrderRequested, stream_id: str, metadata: dict[str, Any]
) -> None:
    """Append OrderRequested and index its vendor reference, atomically."""
    async with pool.acquire() as conn, conn.transaction():
        await store.append(conn, stream_id, [requested], 0, metadata=metadata)
        await conn.execute(
            "INSERT INTO order_references (vendor, vendor_reference, stream_id)"
            " VALUES ($1, $2, $3)",
            requested.vendor,
            requested.vendor_reference,
            stream_id,
        )


class SubmitResult(NamedTuple):
    outcome: Submission
    state: OrderState | None


class Intake:
    def __init__(
        self, fulfilment: Fulfilment, leases: OrderLeases, clock: Clock, sync_budget_s: float
    ) -> None:
        self._fulfilment, self._leases, self._clock = fulfilment, leases, clock
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
            leased = await self._leases.try_acquire(stream_id)
            handed_over = False
            try:
                state = await self._fulfilment.load(stream_id)
                if state is None and not leased:
                    if waited >= CREATE_WAIT_S:
                        return SubmitResult("in_flight", None)
                    await asyncio.sleep(CREATE_WAIT_S / 10)
                    waited += CREATE_WAIT_S / 10
                    continue
                outcome, events = decide_submission(
                    state, cmd, in_flight=not leased, now=self._clock()
                )
                pool = self._fulfilment.pool
                if outcome != "create":
                    # The order's fingerprint never changes and the lease settles "in flight",
                    # so this record stays true whatever else lands first: append at the head.
                    await store.append_observed(pool, stream_id, events, metadata=metadata)
                    return SubmitResult(outcome, state)
                try:
                    await record_new_order(pool, events[0], stream_id, metadata)
                except store.ConcurrencyConflict:
                    continue  # created meanwhile by a writer without our lease: decide again
                if not drive:
                    return SubmitResult(outcome, await self._fulfilment.load(stream_id))
                handed_over = True
                return SubmitResult(outcome, await self._drive_within_budget(stream_id, metadata))
            finally:
                if leased and not handed_over:
                    await self._leases.release(stream_id)
        raise RuntimeError(f"could not append to {stream_id} after {APPEND_RETRIES} attempts")

    async def _drive_within_budget(
        self, stream_id: str, metadata: dict[str, Any]
    ) -> OrderState | None:
        task = asyncio.create_task(self._drive(stream_id, metadata))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # shield: the budget ends our wait, not the vendor work, which goes on in the background.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), self._budget)
        return await self._fulfilment.load(stream_id)

    async def _drive(self, stream_id: str, metadata: dict[str, Any]) -> None:
        try:
            await self._fulfilment.advance(stream_id, metadata, on_schedule=False)
        except Exception:
            # The order stays pending and leased to nobody: the completer will pick it up.
            log.exception("driving order failed", stream_id=stream_id)
        finally:
            await self._leases.release(stream_id)

    async def close(self, grace_s: float = 10.0) -> None:
        """Let in-flight vendor calls finish (they are journaled either way)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
