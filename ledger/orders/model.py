"""Pure order logic: the state an order's events fold into. No I/O, no clock, no ids.

Time comes from the recorded events themselves, which is what makes a rebuild reproduce the
same rows byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from ledger.log import events as ev
from ledger.orders.transitions import TERMINAL, Authority, Status, may_move


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
    # When the completer owes this order its next step; None when nothing is owed (terminal
    # and no unconfirmed hint). Moved by RetryScheduled after every unsettled step.
    next_attempt_at: datetime | None = None
    retries: int = 0  # RetryScheduled so far: the exponent of the next backoff
    # A vendor webhook mentioned the order and no lookup has answered since.
    hint_pending: bool = False
    # An attempt may have reached the vendor without a definite answer (a timeout, a crash
    # mid-call): from then on only the vendor's own business errors may fail the order.
    uncertain: bool = False
    # When the vendor first saw our key: its key retention runs from then, not from the order.
    first_sent_at: datetime | None = None
    # The vendor refused a create as holding our reference already, without naming its order:
    # the same create would be refused again, so its record is asked for until a look-up answers.
    held_at_vendor: bool = False


# An API order is driven by its own request first (intake holds its lease for the vendor
# call); the completer takes it up only past this grace, when the node that took it crashed.
# Bulk rows are the completer's from the start.
DRIVEN_BY_REQUEST = timedelta(seconds=5)


def is_due(state: OrderState, now: datetime) -> bool:
    """Whether the order's schedule says it is owed a step now."""
    return state.next_attempt_at is not None and state.next_attempt_at <= now


def order_stream(client_id: str, idempotency_key: str) -> str:
    return f"order:{client_id}:{idempotency_key}"


def stream_client(stream_id: str) -> str:
    """The client of an order stream: client ids hold no ':' (ledger.auth.CLIENT_ID)."""
    return stream_id.split(":", 2)[1]


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
        next_attempt_at=at if event.source == "bulk" else at + DRIVEN_BY_REQUEST,
    )


def _settle(
    state: OrderState, status: Status, authority: Authority = "vendor", **changes: object
) -> dict[str, object]:
    """Changes for a status move: the move only where the transitions table allows it."""
    if status != state.status and may_move(state.status, status, authority):
        changes["status"] = status
    return changes


def _authority(source: ev.Source) -> Authority:
    return "person" if source == "manual" else "vendor"


def _owed(state: OrderState, at: datetime) -> OrderState:
    """Nothing is owed to a terminal order without a hint; anything else keeps its schedule."""
    if state.status in TERMINAL and not state.hint_pending:
        return (
            msgspec.structs.replace(state, next_attempt_at=None) if state.next_attempt_at else state
        )
    if state.next_attempt_at is None:
        return msgspec.structs.replace(state, next_attempt_at=at)
    return state


def evolve(
    state: OrderState | None, event: ev.AnyEvent, stream_id: str, version: int, at: datetime
) -> OrderState | None:
    """Fold one event of an order stream into the order's state."""
    if state is None:
        if isinstance(event, ev.OrderRequested):
            return _started(event, stream_id, at)
        return None  # an order stream always starts with OrderRequested
    changes = _changes(state, event)
    if changes:
        changes["updated_at"] = at
    return _owed(msgspec.structs.replace(state, **changes, version=version), at)


def _changes(state: OrderState, event: ev.AnyEvent) -> dict[str, object]:
    match event:
        case ev.VendorRequestSent():
            # Sent while the previous attempt never got an answer (a crash): that one may exist.
            uncertain = state.uncertain or state.unanswered_attempt
            return {
                "attempts": state.attempts + 1,
                "unanswered_attempt": True,
                "uncertain": uncertain,
                "first_sent_at": state.first_sent_at or event.sent_at,
            }
        case ev.VendorCallFailed():
            held = state.held_at_vendor or event.reason == "reference_conflict"
            return {"unanswered_attempt": False, "uncertain": True, "held_at_vendor": held}
        case ev.VendorResponseReceived(outcome="fulfilled"):
            # A replay of an order refunded since comes back "fulfilled" and refunded: the vendor
            # charged and refunded it. Events recorded before `refunded` existed said so only
            # in the sandbox's word for it.
            refunded = event.refunded or event.vendor_status == "refunded"
            return _settle(
                state,
                "refunded" if refunded else "fulfilled",
                vendor_order_id=event.vendor_order_id or state.vendor_order_id,
                card_stored=state.card_stored or event.card_stored,
                unanswered_attempt=False,
                **({"refunded_minor": state.amount_minor} if refunded else {}),
            )
        case ev.VendorResponseReceived(outcome="accepted"):
            return {"vendor_order_id": event.vendor_order_id, "unanswered_attempt": False}
        case ev.VendorResponseReceived(outcome="rejected"):
            reason = event.code or event.message or "rejected by vendor"
            return _settle(state, "failed", failure_reason=reason, unanswered_attempt=False)
        case ev.VendorResponseReceived(outcome="not_found"):
            return {"unanswered_attempt": False, "uncertain": False}
        case ev.OrderFulfilled():
            vendor_order_id = event.vendor_order_id or state.vendor_order_id
            card_stored = state.card_stored or event.card_stored
            authority = _authority(event.source)
            return _settle(
                state,
                "fulfilled",
                authority,
                vendor_order_id=vendor_order_id,
                card_stored=card_stored,
            )
        case ev.OrderFailed():
            return _settle(state, "failed", _authority(event.source), failure_reason=event.reason)
        case ev.OrderRefunded():
            authority = _authority(event.source)
            return _settle(state, "refunded", authority, refunded_minor=event.amount_minor)
        case ev.RetryScheduled():
            return {"next_attempt_at": event.due_at, "retries": state.retries + 1}
        case ev.WebhookReceived():
            return {"hint_pending": True, "next_attempt_at": event.received_at}
        case ev.VendorStatusObserved():
            return {
                "hint_pending": False,
                "held_at_vendor": False,
                "uncertain": state.uncertain and event.status != "not_found",
            }
    return {}


# Events that never change an order's fields, only its version: a fold need not decode them.
UNCHANGING = frozenset(
    {
        "RequestReplayed",
        "IdempotencyConflict",
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


def carry(
    state: OrderState | None,
    stream_id: str,
    events: Sequence[ev.Event],
    stamps: Sequence[tuple[int, datetime]],
) -> OrderState | None:
    """The state after `events`, just appended with these (version, recorded_at) stamps: what a
    fold of the stream read back would give, without the read. Each event goes through its
    encoding first, so the fold sees exactly what a reader of the log would decode."""
    for event, (version, at) in zip(events, stamps, strict=True):
        state = evolve(state, ev.decode(ev.encode(event)), stream_id, version, at)
    return state


def shows_card(state: OrderState) -> bool:
    """Whether the order's owner is shown its card: once there is one, while it is theirs."""
    return state.card_stored and state.status in ("fulfilled", "refunded")
