"""Pure: what one vendor record means for one of our orders. No I/O, no clock, no ids.

Every record becomes an observation; a record that is unmistakably our order as we placed it may
also confirm a safe correction (`decide_after_lookup` in ledger.orders.model) with source
"reconciliation".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ledger.log import events as ev
from ledger.orders.decisions import decide_after_lookup
from ledger.orders.model import OrderState


class VendorRecord(Protocol):
    """A vendor's record of one order: a listing's VendorOrderView or a file's FileRecord."""

    vendor_order_id: str
    reference: str
    status: str
    amount_minor: int
    currency: str
    created_at: datetime
    updated_at: datetime


def observation(
    record: VendorRecord, run_id: str, vendor: str, page: int, now: datetime
) -> ev.VendorRecordObserved:
    return ev.VendorRecordObserved(
        run_id=run_id,
        vendor=vendor,
        vendor_order_id=record.vendor_order_id,
        reference=record.reference,
        status=record.status,
        amount_minor=record.amount_minor,
        currency=record.currency,
        vendor_created_at=record.created_at,
        vendor_updated_at=record.updated_at,
        observed_at=now,
        page=page,
    )


def confirms(state: OrderState, record: VendorRecord) -> bool:
    """Whether the record is our order as we placed it, so its status may settle ours.

    A record with another amount or currency, or another vendor order id than the one the
    vendor gave us, is a discrepancy for a person; a status copied from it could be wrong.
    """
    return (
        record.amount_minor == state.amount_minor
        and record.currency == state.currency
        and state.vendor_order_id in (None, record.vendor_order_id)
    )


def order_events(
    state: OrderState | None,
    records: Sequence[VendorRecord],
    *,
    run_id: str,
    vendor: str,
    page: int,
    now: datetime,
) -> list[ev.Event]:
    """Pure: the observations of one order's records, then any safe correction they confirm.

    An order listed twice (a duplicate at the vendor) is never corrected automatically: which of
    the vendor's orders is ours is a question for a person.
    """
    events: list[ev.Event] = [observation(r, run_id, vendor, page, now) for r in records]
    if state is None or len(records) != 1 or not confirms(state, records[0]):
        return events
    record = records[0]
    # Dated when the vendor changed it, not when we listed it: the GL posts a fulfilment on the
    # business day it happened (a closed day's move goes to the next open one as an adjustment
    # of it). Never later than now, nor before our order existed, whatever the vendor's clock
    # says: the GL would post the move on a day the order was not yet pending there.
    happened = max(min(record.updated_at, now), state.created_at)
    corrections = decide_after_lookup(
        state, record.status, record.vendor_order_id, happened, source="reconciliation"
    )
    return events + corrections
