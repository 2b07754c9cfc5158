"""Pure matching: vendor records against our orders, folded into discrepancies.

No I/O, no clock, no ids: every time comes from recorded events and every id is a digest of
what the discrepancy is about, so a re-run of a window finds the same discrepancy again instead
of counting a new one, and a rebuild reproduces the list exactly.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

import msgspec

from ledger.log import events as ev

Kind = Literal[
    "missing_at_vendor",
    "missing_internally",
    "status_mismatch",
    "amount_mismatch",
    "currency_mismatch",
    "duplicate_at_vendor",
]
KINDS: tuple[Kind, ...] = Kind.__args__  # type: ignore[attr-defined]
State = Literal["open", "auto_resolved", "resolved"]


class Note(msgspec.Struct, frozen=True):
    at: datetime
    what: str
    run_id: str | None = None


class Discrepancy(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: Kind
    vendor: str
    reference: str | None
    stream_id: str | None
    vendor_order_id: str | None
    our_status: str | None
    vendor_status: str | None
    our_amount_minor: int | None
    vendor_amount_minor: int | None
    our_currency: str | None
    vendor_currency: str | None
    first_seen_run: str | None
    last_seen_run: str | None
    state: State
    history: tuple[Note, ...]
    opened_at: datetime
    updated_at: datetime
    # Whose order it is about; None for a vendor record matching none of our orders, which
    # only a finance:all key sees.
    client_id: str | None = None
    # The run that last found it again after it was settled; None: it never was.
    reopened_run: str | None = None
    # Resolutions recorded so far: the resolve route compares the log's count with this, so a
    # resolution the projection does not show yet is never made twice.
    resolutions: int = 0


# What each kind of finding is about. A resolved one opens again when a later run finds any of
# these changed (the vendor failed what a person had acknowledged as a lagging record); seen
# again unchanged, it stays resolved. A duplicate is about its newest extra vendor order.
_SUBSTANCE: dict[Kind, tuple[str, ...]] = {
    "missing_at_vendor": ("our_status",),
    "missing_internally": ("vendor_status", "vendor_amount_minor", "vendor_currency"),
    "status_mismatch": ("our_status", "vendor_status"),
    "amount_mismatch": ("our_amount_minor", "vendor_amount_minor"),
    "currency_mismatch": ("our_currency", "vendor_currency"),
    "duplicate_at_vendor": ("vendor_order_id",),
}


def changes(current: Discrepancy, fresh: Discrepancy) -> list[str]:
    """What the fresh finding says that the settled one did not, as `field old -> new`."""
    return [
        f"{field} {getattr(current, field)} -> {getattr(fresh, field)}"
        for field in _SUBSTANCE[current.kind]
        if getattr(current, field) != getattr(fresh, field)
    ]


class OrderFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What matching needs to know about one of our orders."""

    stream_id: str
    vendor: str
    reference: str
    status: str
    amount_minor: int
    currency: str
    created_at: datetime
    webhook_statuses: tuple[str, ...] = ()
    vendor_order_ids: tuple[str, ...] = ()
    last_vendor_status: str | None = None
    # The order's recorded client: a stream written before the database checked that its id
    # spells its owner may name another (the order reads check the same).
    client_id: str | None = None


def discrepancy_id(kind: str, vendor: str, subject: str) -> str:
    return "d_" + hashlib.sha256(f"{kind}\x00{vendor}\x00{subject}".encode()).hexdigest()[:24]


def touch(
    current: Discrepancy | None, fresh: Discrepancy, run_id: str | None, what: str
) -> Discrepancy:
    """Open a discrepancy, or update the one with the same id: a settled one opens again when
    it healed and recurs, or was resolved and is found changed."""
    if current is None:
        return msgspec.structs.replace(fresh, history=(Note(fresh.opened_at, what, run_id),))
    changed = changes(current, fresh)
    reopens = current.state == "auto_resolved" or (current.state == "resolved" and changed)
    if reopens:
        what += "; reopened" + (f": {', '.join(changed)}" if changed else "")
    note = Note(fresh.updated_at, what, run_id)
    return msgspec.structs.replace(
        current,
        vendor_order_id=fresh.vendor_order_id,
        our_status=fresh.our_status,
        vendor_status=fresh.vendor_status,
        our_amount_minor=fresh.our_amount_minor,
        vendor_amount_minor=fresh.vendor_amount_minor,
        our_currency=fresh.our_currency,
        vendor_currency=fresh.vendor_currency,
        last_seen_run=run_id or current.last_seen_run,
        state="open" if reopens else current.state,
        reopened_run=run_id if reopens else current.reopened_run,
        history=(*current.history, note),
        updated_at=fresh.updated_at,
    )


def settle(current: Discrepancy, state: State, at: datetime, what: str) -> Discrepancy:
    return msgspec.structs.replace(
        current, state=state, history=(*current.history, Note(at, what)), updated_at=at
    )


def resolve(current: Discrepancy, at: datetime, what: str) -> Discrepancy:
    """A person's resolution, counted (the resolve route's guard reads the count)."""
    resolved = settle(current, "resolved", at, what)
    return msgspec.structs.replace(resolved, resolutions=current.resolutions + 1)


def _base(kind: Kind, order: OrderFacts | None, record: ev.VendorRecordObserved, at: datetime):
    subject = order.stream_id if order else record.vendor_order_id
    return Discrepancy(
        id=discrepancy_id(kind, record.vendor, subject),
        kind=kind,
        vendor=record.vendor,
        reference=record.reference,
        stream_id=order.stream_id if order else None,
        vendor_order_id=record.vendor_order_id,
        our_status=order.status if order else None,
        vendor_status=record.status,
        our_amount_minor=order.amount_minor if order else None,
        vendor_amount_minor=record.amount_minor,
        our_currency=order.currency if order else None,
        vendor_currency=record.currency,
        first_seen_run=record.run_id,
        last_seen_run=record.run_id,
        state="open",
        history=(),
        opened_at=at,
        updated_at=at,
        client_id=order.client_id if order else None,
    )


def own_vendor_order(order: OrderFacts, ours: str | None) -> str | None:
    """Our order's vendor order: the one its answers named, else the first the vendor listed."""
    return ours or (order.vendor_order_ids[0] if order.vendor_order_ids else None)


def match(
    order: OrderFacts | None, record: ev.VendorRecordObserved, at: datetime, ours: str | None = None
) -> tuple[OrderFacts | None, list[Discrepancy], bool]:
    """Compare one vendor record with our order: (order facts after, findings, missed webhook).

    `ours` is the vendor order our order's answers named (None: never learned). Any other
    under our reference is a duplicate, and only that: its status and amount are not our
    order's, and compared with it they would flap between the two records every run.
    Findings are fresh discrepancies (to be merged with `touch`); a status finding is the only
    one that can later heal itself, when our order comes to agree with the vendor.
    """
    if order is None:
        return None, [_base("missing_internally", None, record, at)], False
    findings = []
    ids = order.vendor_order_ids
    if record.vendor_order_id not in ids:
        ids = (*ids, record.vendor_order_id)
    seen = msgspec.structs.replace(order, vendor_order_ids=ids)
    own = own_vendor_order(seen, ours)
    if extras := [i for i in ids if i != own]:  # one reference, several vendor orders
        duplicate = _base("duplicate_at_vendor", order, record, at)
        # Named by the newest extra order, whichever record showed it: a third one is news.
        findings.append(msgspec.structs.replace(duplicate, vendor_order_id=extras[-1]))
    if record.vendor_order_id != own:
        return seen, findings, False
    if record.amount_minor != order.amount_minor:
        findings.append(_base("amount_mismatch", order, record, at))
    if record.currency != order.currency:
        findings.append(_base("currency_mismatch", order, record, at))
    if record.status != order.status:
        findings.append(_base("status_mismatch", order, record, at))
    # A status the vendor reached that no webhook of ours announced: a missed webhook.
    missed = record.status != "pending" and record.status not in order.webhook_statuses
    return msgspec.structs.replace(seen, last_vendor_status=record.status), findings, missed


def missing_at_vendor(
    order: OrderFacts, run: ev.ReconciliationStarted, at: datetime
) -> Discrepancy:
    return Discrepancy(
        id=discrepancy_id("missing_at_vendor", order.vendor, order.stream_id),
        kind="missing_at_vendor",
        vendor=order.vendor,
        reference=order.reference,
        stream_id=order.stream_id,
        vendor_order_id=order.vendor_order_ids[-1] if order.vendor_order_ids else None,
        our_status=order.status,
        vendor_status=None,
        our_amount_minor=order.amount_minor,
        vendor_amount_minor=None,
        our_currency=order.currency,
        vendor_currency=None,
        first_seen_run=run.run_id,
        last_seen_run=run.run_id,
        state="open",
        history=(),
        opened_at=at,
        updated_at=at,
        client_id=order.client_id,
    )
