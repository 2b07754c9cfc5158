"""Pure order decisions: what a submission means, the next vendor step, what a lookup settles.

No I/O, no clock, no ids: `now` is passed in, and every decision returns the events to append.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from ledger.log import events as ev
from ledger.orders.model import OrderState, order_stream

# Past this fraction of the vendor's key retention we look an order up by reference before any
# resubmission: clocks and the vendor's own bookkeeping are not exact, so stop well short of it.
RETENTION_SAFETY = 0.9


class SubmitOrder(msgspec.Struct, frozen=True, kw_only=True):
    """The command: place this order once, whatever happens to the request."""

    client_id: str
    idempotency_key: str
    customer_id: str
    brand_id: str
    amount_minor: int
    currency: str
    vendor: str
    source: Literal["api", "bulk"] = "api"
    batch_id: str | None = None

    @property
    def stream_id(self) -> str:
        return order_stream(self.client_id, self.idempotency_key)

    @property
    def fingerprint(self) -> str:
        """What "the same payload" means: the normalised fields a client controls."""
        canonical = msgspec.json.encode(
            [self.customer_id, self.brand_id, self.amount_minor, self.currency]
        )
        return hashlib.sha256(canonical).hexdigest()


def vendor_reference(stream_id: str) -> str:
    """Our reference at the vendor and its idempotency key: stable, opaque, header-safe."""
    return "gcl-" + hashlib.sha256(stream_id.encode()).hexdigest()[:40]


Submission = Literal["create", "replay", "mismatch", "in_flight"]


def decide_submission(
    state: OrderState | None, cmd: SubmitOrder, *, in_flight: bool, now: datetime
) -> tuple[Submission, list[ev.Event]]:
    """What a submission means given the order's history; every outcome is recorded."""
    if state is None:
        requested = ev.OrderRequested(
            client_id=cmd.client_id,
            idempotency_key=cmd.idempotency_key,
            customer_id=cmd.customer_id,
            brand_id=cmd.brand_id,
            amount_minor=cmd.amount_minor,
            currency=cmd.currency,
            fingerprint=cmd.fingerprint,
            vendor=cmd.vendor,
            vendor_reference=vendor_reference(cmd.stream_id),
            requested_at=now,
            source=cmd.source,
            batch_id=cmd.batch_id,
        )
        return "create", [requested]
    if state.fingerprint != cmd.fingerprint:
        conflict = ev.IdempotencyConflict(
            reason="payload_mismatch", fingerprint=cmd.fingerprint, at=now
        )
        return "mismatch", [conflict]
    if in_flight and state.status == "pending":
        # Only a pending order can be in flight: a settled one has its answer, whoever else
        # is looking at it (a lookup a webhook asked for).
        conflict = ev.IdempotencyConflict(reason="in_flight", fingerprint=cmd.fingerprint, at=now)
        return "in_flight", [conflict]
    return "replay", [ev.RequestReplayed(fingerprint=cmd.fingerprint, replayed_at=now)]


VendorStep = Literal["submit", "lookup", "none"]


def next_vendor_step(
    state: OrderState, now: datetime, key_retention: timedelta, *, by_reference: bool = True
) -> VendorStep:
    """How to move an order forward without ever risking a second vendor order.

    `by_reference`: whether the vendor can find an order by our reference. One that cannot
    (Runa) finds it by its own id only; without that id, replaying the create with the same
    key, within the key's retention, is how it is asked.
    """
    first_seen = state.first_sent_at or state.created_at  # the vendor's key is kept from then
    within_retention = now - first_seen < key_retention * RETENTION_SAFETY
    if not by_reference and state.vendor_order_id is None and state.status == "pending":
        # Never sent, it cannot be held there: sent however late.
        return "submit" if within_retention or state.attempts == 0 else "lookup"
    if state.hint_pending:
        return "lookup"  # a webhook said something: the vendor's own record decides
    if state.status != "pending":
        return "none"
    if state.vendor_order_id is not None and not state.unanswered_attempt:
        return "lookup"  # the vendor took it and is working: ask, do not resubmit
    if state.held_at_vendor:
        return "lookup"  # it holds our reference: the same create is refused the same way
    if state.attempts > 0 and not within_retention:
        return "lookup"  # the vendor may have forgotten our key: a resubmit could charge twice
    return "submit"


def decide_after_lookup(
    state: OrderState,
    status: str,
    vendor_order_id: str | None,
    now: datetime,
    source: ev.Source = "confirmation",
    *,
    card_stored: bool = False,
) -> list[ev.Event]:
    """Corrections the vendor's own record confirms; anything else waits for a person.

    Safe moves only: pending becomes what the vendor says, and a fulfilled order the vendor
    refunded becomes refunded. A terminal order the vendor contradicts (we failed it, the vendor
    fulfilled it) is a discrepancy for reconciliation, never silently rewritten here.
    """
    if state.status == "pending" and status in ("fulfilled", "refunded"):
        fulfilled = ev.OrderFulfilled(
            vendor_order_id=vendor_order_id,
            source=source,
            fulfilled_at=now,
            card_stored=card_stored,
        )
        return [fulfilled, *_refund_if(status, state, now, source)]
    if state.status == "pending" and status == "failed":
        return [ev.OrderFailed(reason="failed at vendor", source=source, failed_at=now)]
    if state.status == "fulfilled" and status == "refunded":
        return _refund_if(status, state, now, source)
    return []


def _refund_if(status: str, state: OrderState, now: datetime, source: ev.Source) -> list[ev.Event]:
    if status != "refunded":
        return []
    return [ev.OrderRefunded(amount_minor=state.amount_minor, source=source, refunded_at=now)]
