"""The JSON bodies of the read and operations routes, as /openapi.json declares them. The
handlers build these shapes; tests/e2e/test_openapi.py converts each route's real answer to its
declared type, so a handler cannot drift from its document."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import msgspec

from ledger.auth import KeyInfo

Amount = str  # exact decimal text in the currency's minor-unit places, e.g. "25.00"


class Received(msgspec.Struct):
    received: bool
    duplicate: bool


class Health(msgspec.Struct):
    status: Literal["ok", "starting"]


class Readiness(msgspec.Struct):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Any]


class Resolved(msgspec.Struct):
    id: str
    state: str
    action: str


class HistoryNote(msgspec.Struct):
    at: datetime
    what: str
    run_id: str | None = None


class DiscrepancyView(msgspec.Struct):
    """A finding as the API shows it (the read model's `kind` is `type` here)."""

    id: str
    type: str
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
    state: str
    history: list[HistoryNote]
    opened_at: datetime
    updated_at: datetime
    client_id: str | None
    # The run that found it again after it was settled (its latest such run), if one did.
    reopened_run: str | None
    resolutions: int


class DiscrepancyPage(msgspec.Struct):
    items: list[DiscrepancyView]
    next: str | None


class RunWindow(msgspec.Struct):
    start: datetime = msgspec.field(name="from")
    end: datetime = msgspec.field(name="to")


class RunView(msgspec.Struct):
    run_id: str
    vendor: str
    source: str
    window: RunWindow
    status: Literal["running", "completed"]
    started_at: datetime
    completed_at: datetime | None
    duration_s: float | None
    pages: int
    counts: dict[str, int]


class OrderListItem(msgspec.Struct):
    idempotency_key: str
    status: Literal["pending", "fulfilled", "failed", "refunded"]
    currency: str
    amount: Amount
    customer_id: str
    brand_id: str
    vendor_order_id: str | None
    created_at: datetime
    updated_at: datetime
    source: str
    batch_id: str | None


class OrderPage(msgspec.Struct):
    items: list[OrderListItem]
    next: str | None


class GLDay(msgspec.Struct):
    business_date: date
    currency: str
    state: Literal["pending", "fulfilled", "failed", "refunded"]
    count: int
    amount: Amount
    adjustment_count: int
    adjustment_amount: Amount
    closing_balance: Amount


class GLDaily(msgspec.Struct):
    days: list[GLDay]


class JournalLineView(msgspec.Struct):
    currency: str
    account: str
    debit: Amount
    credit: Amount
    memo: str
    adjustment_of: date | None


class Journal(msgspec.Struct):
    business_date: date
    closed: bool
    lines: list[JournalLineView]


class ApiKeyList(msgspec.Struct):
    items: list[KeyInfo]
