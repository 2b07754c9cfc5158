"""The bulk batch use case: record a validated file as a batch, then each row as an order.

Writes, each committed on its own (no vendor is called here, so no transaction spans one):
1. BulkBatchAccepted at `bulk:{batch_id}`, expected version 0. If it is already there this is
   a re-upload of the same file by the same client: carry on, every row below replays.
2. Every accepted row through Intake.submit(drive=False): a pending OrderRequested with source
   "bulk" and the batch id, or a replay of the order an earlier upload recorded.
The completer then sends the pending orders to the vendor at its own, bounded pace. A crash
between the two steps leaves a batch with rows missing; uploading the same file again fills them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from ledger.bulk.parsing import BulkFile, BulkRow, RowError, batch_id
from ledger.log import events as ev
from ledger.log import store
from ledger.orders.decisions import SubmitOrder
from ledger.orders.intake import Intake
from ledger.vendors.routing import NoVendorSells

# Rows recorded at once. bench/bulk.py, 10,000 rows on an idle 2-CPU node: 895 rows/s at 1,
# about 2,400 at 8, 2,200 at 16: past 8 the submissions only contend. 8 also leaves most of
# the service's 20 pooled connections to the completer, the projections and requests.
SUBMIT_CONCURRENCY = 8
# A row whose order another upload of the same file is creating right now: ask again a few
# times (Intake itself waits 0.2 s per ask) before reporting it as unfinished.
IN_FLIGHT_ROUNDS = 5
Progress = Callable[[int, int], None]


class BatchOutcome(msgspec.Struct, frozen=True):
    batch_id: str
    file_sha256: str
    rows: int
    accepted_rows: int
    # True when this file had been accepted before: nothing was created twice.
    replayed: bool
    created: int
    # Rows whose order was already recorded (an earlier upload of this file, or a key reused).
    existing: int
    # Rows not ordered: their key names a different order, or it stayed busy elsewhere.
    # (A brand no vendor sells is a bad row of the file, in its errors.)
    refused: tuple[RowError, ...]


def stream_of(batch: str) -> str:
    return f"bulk:{batch}"


def route_rows(parsed: BulkFile, route: Callable[[str], str]) -> BulkFile:
    """The file with each accepted row's vendor chosen by `route`. A brand no vendor sells is a
    bad row like a bad cell, found before anything is written: a whole file with one is refused,
    since one ordered but for that row, corrected and sent again, is new bytes whose other rows
    would get new keys and be ordered twice."""
    routed: list[BulkRow] = []
    unsold: list[RowError] = []
    for row in parsed.accepted:
        try:
            routed.append(msgspec.structs.replace(row, vendor=route(row.brand_id)))
        except NoVendorSells as exc:
            unsold.append(RowError(row.row, "brand_id", str(exc)))
    errors = tuple(sorted((*parsed.errors, *unsold), key=lambda error: error.row))
    return msgspec.structs.replace(parsed, accepted=tuple(routed), errors=errors)


async def submit_batch(
    intake: Intake,
    pool: asyncpg.Pool,
    parsed: BulkFile,
    *,
    client_id: str,
    partial: bool,
    now: datetime,
    metadata: dict[str, Any],
    progress: Progress | None = None,
) -> BatchOutcome:
    """Record the batch and all its accepted rows, each with the vendor route_rows chose for
    it; the caller routed the file and checked parsed.acceptable() after that."""
    if not parsed.acceptable(partial) or any(row.vendor is None for row in parsed.accepted):
        raise ValueError("submit_batch needs a routed file acceptable as sent (route_rows)")
    batch = batch_id(client_id, parsed.file_sha256)
    accepted = ev.BulkBatchAccepted(
        batch_id=batch,
        client_id=client_id,
        file_sha256=parsed.file_sha256,
        rows=parsed.rows,
        accepted_rows=len(parsed.accepted),
        accepted_at=now,
        partial=partial,
    )
    try:
        await store.append(pool, stream_of(batch), [accepted], 0, metadata=metadata)
        replayed = False
    except store.ConcurrencyConflict:
        replayed = True  # the same client sent the same bytes before: the rows replay below
    tally = {"create": 0, "replay": 0}
    refused: list[RowError] = []
    rows = iter(parsed.accepted)

    async def worker() -> None:
        for row in rows:  # one shared iterator: each row is taken by exactly one worker
            outcome = await _order_row(intake, row, client_id, batch, metadata)
            if isinstance(outcome, RowError):
                refused.append(outcome)
            else:
                tally[outcome] += 1
            if progress is not None:
                progress(tally["create"] + tally["replay"] + len(refused), len(parsed.accepted))

    # A TaskGroup: if recording fails (the database went away), every worker stops and the
    # error reaches the caller; the rows already recorded replay when the file is sent again.
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(SUBMIT_CONCURRENCY, len(parsed.accepted))):
                group.create_task(worker())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from failed  # callers handle the error, not a group of them
    return BatchOutcome(
        batch_id=batch,
        file_sha256=parsed.file_sha256,
        rows=parsed.rows,
        accepted_rows=len(parsed.accepted),
        replayed=replayed,
        created=tally["create"],
        existing=tally["replay"],
        refused=tuple(sorted(refused, key=lambda e: e.row)),
    )


async def _order_row(
    intake: Intake, row: BulkRow, client_id: str, batch: str, metadata: dict[str, Any]
) -> str | RowError:
    assert row.vendor is not None  # submit_batch takes routed files only
    cmd = SubmitOrder(
        client_id=client_id,
        idempotency_key=row.idempotency_key,
        customer_id=row.customer_id,
        brand_id=row.brand_id,
        amount_minor=row.amount_minor,
        currency=row.currency,
        vendor=row.vendor,
        source="bulk",
        batch_id=batch,
    )
    return await _submit_row(intake, cmd, row, {**metadata, "batch_id": batch})


async def _submit_row(
    intake: Intake, cmd: SubmitOrder, row: BulkRow, metadata: dict[str, Any]
) -> str | RowError:
    """ "create" or "replay" once the row's order is recorded; a RowError when it is not."""
    for _ in range(IN_FLIGHT_ROUNDS):
        result = await intake.submit(cmd, {**metadata, "row": row.row}, drive=False)
        if result.outcome == "mismatch":
            reason = "this idempotency key was already used for a different order"
            return RowError(row.row, "idempotency_key", reason)
        if result.outcome == "in_flight" and result.state is None:
            continue  # another upload holds the lease and has not written the order yet
        # in_flight with a state: the order is recorded and its lease holder is working on it.
        return "create" if result.outcome == "create" else "replay"
    reason = "another request was still recording this order; upload the file again to finish"
    return RowError(row.row, None, reason)


class BatchProgress(msgspec.Struct, frozen=True):
    batch_id: str
    file_sha256: str
    rows: int
    accepted_rows: int
    partial: bool
    accepted_at: datetime
    # Orders this batch created, as the orders projection shows them now (it may lag a moment).
    orders: int
    counts: dict[str, int]
    # Every accepted row has its order and none is pending any more.
    complete: bool


_COUNTS = """
    SELECT status, count(*) AS n FROM orders_view
    WHERE client_id = $1 AND batch_id = $2
    GROUP BY status"""


async def batch_progress(pool: asyncpg.Pool, client_id: str, batch: str) -> BatchProgress | None:
    """A batch of this client's, with per-status counts; None when it has no such batch."""
    recorded = await store.read_stream(pool, stream_of(batch))
    head = recorded[0].decode() if recorded else None
    if not isinstance(head, ev.BulkBatchAccepted) or head.client_id != client_id:
        return None  # another client's batch is as absent as an unknown one
    counts = dict.fromkeys(("pending", "fulfilled", "failed", "refunded"), 0)
    counts.update({r["status"]: r["n"] for r in await pool.fetch(_COUNTS, client_id, batch)})
    orders = sum(counts.values())
    return BatchProgress(
        batch_id=batch,
        file_sha256=head.file_sha256,
        rows=head.rows,
        accepted_rows=head.accepted_rows,
        partial=head.partial,
        accepted_at=head.accepted_at,
        orders=orders,
        counts=counts,
        complete=orders >= head.accepted_rows and counts["pending"] == 0,
    )
