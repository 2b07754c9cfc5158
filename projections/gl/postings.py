"""Pure GL: business dates, moves between GL states, journal lines from a chart of accounts.

An order's amount sits in the GL state its status maps to. Each status change is a move
(from -> to) dated by when it happened in the business time zone. A state may have a standing
entry (debit account, credit account): a move reverses the old state's entry and books the new
one, so every move balances by construction and account balances mirror the states.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

import msgspec

from ledger.log import events as ev

GL_STATES = ("pending", "fulfilled", "refunded", "failed")


class Entry(msgspec.Struct, frozen=True):
    debit: str
    credit: str


# The default chart: pending orders are a commitment in transit; fulfilment books the expense
# against the vendor payable; a refund reverses it; a failed order leaves nothing standing.
DEFAULT_CHART: Mapping[str, Entry | None] = {
    "pending": Entry("1410 Gift cards in transit", "2410 Gift card order commitments"),
    "fulfilled": Entry("5100 Gift card expense", "2100 Vendor payable"),
    "refunded": None,
    "failed": None,
}


class Posting(msgspec.Struct, frozen=True, kw_only=True):
    """One move of one order's amount, as the GL records it."""

    id: str
    posting_date: date
    currency: str
    from_state: str | None
    to_state: str
    amount_minor: int
    adjustment_of: date | None = None


def business_date(moment: datetime, tz: ZoneInfo) -> date:
    """The local calendar date: the boundary is local midnight, DST included (zoneinfo)."""
    return moment.astimezone(tz).date()


def occurred_at(event: ev.AnyEvent) -> datetime | None:
    """When a status-changing event happened (its own timestamp, not when it was stored)."""
    match event:
        case ev.OrderRequested():
            return event.requested_at
        case ev.VendorResponseReceived():
            return event.received_at
        case ev.OrderFulfilled():
            return event.fulfilled_at
        case ev.OrderFailed():
            return event.failed_at
        case ev.OrderRefunded():
            return event.refunded_at
    return None


class ClosedDays:
    """The closed business days, and the latest of them."""

    __slots__ = ("days", "latest")

    def __init__(self, days: Iterable[date] = ()) -> None:
        self.days = set(days)
        self.latest = max(self.days, default=None)

    def add(self, day: date) -> None:
        self.days.add(day)
        self.latest = day if self.latest is None else max(self.latest, day)

    def __contains__(self, day: object) -> bool:
        return day in self.days


def open_date(natural: date, closed: ClosedDays) -> date:
    """The date a move dated `natural` posts on: its own, unless a day on or after it is
    closed; then the day after the latest closed day. Not merely the next open day: a
    closing balance sums every earlier day, so a move on an open day before a closed one
    (a day with no orders, which the close schedule skips) would change that closed day."""
    if closed.latest is None or natural > closed.latest:
        return natural
    return date.fromordinal(closed.latest.toordinal() + 1)


def is_correction(event: ev.AnyEvent) -> bool:
    """A refund, or a status fixed by reconciliation or a person: not the order's own flow."""
    if isinstance(event, ev.OrderRefunded):
        return True
    if isinstance(event, ev.OrderFulfilled | ev.OrderFailed):
        return event.source in ("reconciliation", "manual")
    return False


def place(
    natural: date, origin: date, closed: ClosedDays, *, correction: bool
) -> tuple[date, date | None]:
    """Where a move posts, and the closed day it adjusts (None for an ordinary move).

    A closed day never changes: a move dated on or before one posts after it (open_date). A
    correction of an order that began on a closed day is an adjustment naming that day.
    """
    posting = open_date(natural, closed)
    if correction and origin in closed and origin != posting:
        return posting, origin
    return posting, (natural if posting != natural else None)


def journal(postings: Iterable[Posting], chart: Mapping[str, Entry | None]) -> list[ev.JournalLine]:
    """Journal lines per (currency, account, adjustment_of), debits and credits summed.

    Raises ValueError if a currency's debits and credits differ: that would be a bug in the
    chart or the moves, and a journal that does not balance must never be exported.
    """
    sums: dict[tuple[str, str, date | None], list[int]] = defaultdict(lambda: [0, 0])
    for posting in postings:
        for state, sign in ((posting.from_state, -1), (posting.to_state, 1)):
            entry = chart.get(state) if state else None
            if entry is None:
                continue
            debit, credit = (entry.debit, entry.credit) if sign > 0 else (entry.credit, entry.debit)
            sums[(posting.currency, debit, posting.adjustment_of)][0] += posting.amount_minor
            sums[(posting.currency, credit, posting.adjustment_of)][1] += posting.amount_minor
    lines = [
        ev.JournalLine(
            currency=currency,
            account=account,
            debit_minor=debit,
            credit_minor=credit,
            memo=f"adjustment of {adjustment}" if adjustment else "",
            adjustment_of=adjustment,
        )
        for (currency, account, adjustment), (debit, credit) in sorted(
            sums.items(), key=lambda item: (item[0][0], item[0][2] or date.min, item[0][1])
        )
    ]
    balance: dict[str, int] = defaultdict(int)
    for line in lines:
        balance[line.currency] += line.debit_minor - line.credit_minor
    unbalanced = {c: b for c, b in balance.items() if b}
    if unbalanced:
        raise ValueError(f"journal does not balance: {unbalanced}")
    return lines


def load_chart(raw: Mapping[str, Mapping[str, str] | None]) -> dict[str, Entry | None]:
    """A chart from configuration: every GL state, each an entry or nothing standing."""
    unknown = set(raw) - set(GL_STATES)
    if unknown:
        raise ValueError(f"unknown GL states in chart: {', '.join(sorted(unknown))}")
    chart = dict(DEFAULT_CHART)
    for state, entry in raw.items():
        chart[state] = None if not entry else msgspec.convert(entry, Entry)
    return chart


class Movement(msgspec.Struct, frozen=True):
    """Postings grouped by (date, currency, from, to), as the database sums them."""

    posting_date: date
    currency: str
    from_state: str | None
    to_state: str
    count: int
    amount_minor: int
    adjustment_count: int
    adjustment_minor: int


def daily_totals(movements: Iterable[Movement], start: date) -> list[tuple[date, ev.GLTotal]]:
    """Per (date >= start, currency): every GL state's moves in and closing balance.

    `movements` must include every earlier date too, since balances accumulate from the start.
    Returns (date, GLTotal) pairs sorted by date, currency and state.
    """
    balance: dict[tuple[str, str], int] = defaultdict(int)
    days: dict[tuple[date, str], dict[str, list[int]]] = {}
    for move in sorted(movements, key=lambda m: (m.posting_date, m.currency)):
        if move.from_state:
            balance[(move.currency, move.from_state)] -= move.amount_minor
        balance[(move.currency, move.to_state)] += move.amount_minor
        key = (move.posting_date, move.currency)
        day = days.setdefault(key, {state: [0, 0, 0, 0, 0] for state in GL_STATES})
        into = day[move.to_state]
        into[0] += move.count
        into[1] += move.amount_minor
        into[2] += move.adjustment_count
        into[3] += move.adjustment_minor
        for state in GL_STATES:
            day[state][4] = balance[(move.currency, state)]
    rows = []
    for (day_date, currency), states in sorted(days.items()):
        if day_date < start:
            continue
        for state in GL_STATES:
            count, amount, adj_count, adj_amount, closing = states[state]
            total = ev.GLTotal(
                currency=currency,
                state=state,
                count=count,
                amount_minor=amount,
                adjustment_count=adj_count,
                adjustment_minor=adj_amount,
                closing_balance_minor=closing,
            )
            rows.append((day_date, total))
    return rows
