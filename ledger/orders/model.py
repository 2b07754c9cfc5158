"""Pure order logic: the state an order's events fold into. No I/O, no clock, no ids.

Time comes from the recorded events themselves, which is what makes a rebuild reproduce the
same rows byte for byte.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from ledger.log import events as ev

Status = Literal["pending", "fulfilled", "failed", "refunded"]
TERMINAL: frozenset[str] = frozenset({"fulfilled", "failed", "refunded"})


# gc=False: an immutable value without cycles; rebuilds fold millions, untracked by the GC.
class OrderState(msgspec.Struct, frozen=True, gc=False):
    """One row of the order read model; field order is the table's column order."""

    stream_id: str
    client_id: str
    idempotency_key: str
    customer_id: str
    brand_id: str
    amount_minor: int
    currency: str
    fingerprint: str
    vendor: str
    vendor_reference: str
    source: str
    batch_id: str | None
    status: Status
    vendor_order_id: str | None
    failure_reason: str | None
    refunded_minor: int
    # Attempts sent; an attempt with no recorded outcome means the vendor may have the order.
    attempts: int
    unanswered_attempt: bool
    card_stored: bool
    created_at: datetime
    updated_at: datetime
    version: int


def order_stream(client_id: str, idempotency_key: str) -> str:
    return f"order:{client_id}:{idempotency_key}"


def _started(event: ev.OrderRequested, stream_id: str, at: datetime) -> OrderState:
    return OrderState(
        stream_id=stream_id,
        client_id=event.client_id,
        idempotency_key=event.idempotency_key,
        customer_id=event.customer_id,
        brand_id=event.brand_id,
        amount_minor=event.amount_minor,
        currency=event.currency,
        fingerprint=event.fingerprint,
        vendor=event.vendor,
        vendor_reference=event.vendor_reference,
        source=event.source,
        batch_id=event.batch_id,
        status="pending",
        vendor_order_id=None,
        failure_reason=None,
        refunded_minor=0,
        attempts=0,
        unanswered_attempt=False,
        card_stored=False,
        created_at=at,
        updated_at=at,
        version=1,
    )


def _settle(state: OrderState, status: Status, **changes: object) -> dict[str, object]:
    """Changes for a status move; a terminal order never goes back to pending."""
    if state.status in TERMINAL and status == "pending":
        return changes
    return {"status": status, **changes}


def evolve(
    state: OrderState | None, event: ev.AnyEvent, stream_id: str, version: int, at: datetime
) -> OrderState | None:
    """Fold one event of an order stream into the order's state."""
    if state is None:
        if isinstance(event, ev.OrderRequested):
            return _started(event, stream_id, at)
        return None  # an order stream always starts with OrderRequested
    changes: dict[str, object] = {}
    match event:
        case ev.VendorRequestSent():
            changes = {"attempts": state.attempts + 1, "unanswered_attempt": True}
        case ev.VendorCallFailed():
            changes = {"unanswered_attempt": False}
        case ev.VendorResponseReceived(outcome="fulfilled"):
            changes = _settle(
                state,
                "fulfilled",
                vendor_order_id=event.vendor_order_id or state.vendor_order_id,
                card_stored=state.card_stored or event.card_stored,
                unanswered_attempt=False,
            )
        case ev.VendorResponseReceived(outcome="accepted"):
            changes = {"vendor_order_id": event.vendor_order_id, "unanswered_attempt": False}
        case ev.VendorResponseReceived(outcome="rejected"):
            reason = event.code or event.message or "rejected by vendor"
            changes = _settle(state, "failed", failure_reason=reason, unanswered_attempt=False)
        case ev.VendorResponseReceived(outcome="not_found"):
            changes = {"unanswered_attempt": False}
        case ev.OrderFulfilled():
            vendor_order_id = event.vendor_order_id or state.vendor_order_id
            changes = _settle(state, "fulfilled", vendor_order_id=vendor_order_id)
        case ev.OrderFailed():
            changes = _settle(state, "failed", failure_reason=event.reason)
        case ev.OrderRefunded():
            changes = {"status": "refunded", "refunded_minor": event.amount_minor}
    if changes:
        changes["updated_at"] = at
    return msgspec.structs.replace(state, **changes, version=version)


# --- decisions ------------------------------------------------------------------------------

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
    if in_flight:
        conflict = ev.IdempotencyConflict(reason="in_flight", fingerprint=cmd.fingerprint, at=now)
        return "in_flight", [conflict]
    return "replay", [ev.RequestReplayed(fingerprint=cmd.fingerprint, replayed_at=now)]


VendorStep = Literal["submit", "lookup", "none"]


def next_vendor_step(state: OrderState, now: datetime, key_retention: timedelta) -> VendorStep:
    """How to move a pending order forward without ever risking a second vendor order."""
    if state.status != "pending":
        return "none"
    if state.vendor_order_id is not None and not state.unanswered_attempt:
        return "lookup"  # the vendor took it and is working: ask, do not resubmit
    if state.attempts > 0 and now - state.created_at >= key_retention * RETENTION_SAFETY:
        return "lookup"  # the vendor may have forgotten our key: a resubmit could charge twice
    return "submit"


def decide_after_lookup(
    state: OrderState,
    status: str,
    vendor_order_id: str | None,
    now: datetime,
    source: ev.Source = "confirmation",
) -> list[ev.Event]:
    """Corrections the vendor's own record confirms; anything else waits for a person.

    Safe moves only: pending becomes what the vendor says, and a fulfilled order the vendor
    refunded becomes refunded. A terminal order the vendor contradicts (we failed it, the vendor
    fulfilled it) is a discrepancy for reconciliation, never silently rewritten here.
    """
    if state.status == "pending" and status in ("fulfilled", "refunded"):
        fulfilled = ev.OrderFulfilled(
            vendor_order_id=vendor_order_id, source=source, fulfilled_at=now
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


# Events that never change an order's fields, only its version: a fold need not decode them.
UNCHANGING = frozenset(
    {
        "RequestReplayed",
        "IdempotencyConflict",
        "WebhookReceived",
        "VendorStatusObserved",
        "VendorRecordObserved",
        "DiscrepancyResolved",
    }
)


def evolve_recorded(state: OrderState | None, recorded) -> OrderState | None:
    """evolve() for a stored event (store.RecordedEvent), skipping the decode when it can."""
    if state is not None and recorded.type in UNCHANGING:
        return msgspec.structs.replace(state, version=recorded.version)
    event = recorded.decode()
    return evolve(state, event, recorded.stream_id, recorded.version, recorded.recorded_at)


def fold(events: list) -> OrderState | None:
    """An order's state from its recorded events (store.RecordedEvent), in version order."""
    state = None
    for recorded in events:
        state = evolve_recorded(state, recorded)
    return state
