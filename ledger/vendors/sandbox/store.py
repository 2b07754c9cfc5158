"""The sandbox vendor's state: orders and remembered idempotency keys, in memory.

Keys are forgotten after the configured retention, as a real vendor's are, so a late
resubmission creates a second order; pending orders fulfil themselves when their time comes,
and the vendor's own transitions (never admin changes) are announced to the webhook sender.
"""

from __future__ import annotations

import base64
import bisect
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from ledger.vendors.base import CardSecret, VendorStatus
from ledger.vendors.rest import WireCreateOrder, WireOrder, WireTransactionPage
from ledger.vendors.sandbox.webhooks import WebhookSender

_cursor_encoder = msgspec.json.Encoder()


class Conflict(Exception):
    """The idempotency key is known with a different request body."""


class NotFound(Exception):
    pass


class AdminOrder(msgspec.Struct, frozen=True):
    reference: str
    amount_minor: int
    currency: str
    status: VendorStatus
    brand_id: str = "admin"
    customer_id: str = "admin"


class AdminPatch(msgspec.Struct, frozen=True):
    status: VendorStatus | None = None
    amount_minor: int | None = None


@dataclass(slots=True)
class _Order:
    id: str
    reference: str
    status: VendorStatus
    amount_minor: int
    currency: str
    brand_id: str
    customer_id: str
    created_at: datetime
    updated_at: datetime
    card: CardSecret
    fulfil_at: datetime | None = None  # when a pending order fulfils itself, if ever

    def settle(self, now: datetime) -> bool:
        """Whether the order fulfilled itself just now. Computed lazily from the clock, so tests
        with a fake clock need no real waiting; the webhook sender's timer also calls it."""
        if self.status == "pending" and self.fulfil_at is not None and now >= self.fulfil_at:
            self.status, self.updated_at, self.fulfil_at = "fulfilled", self.fulfil_at, None
            return True
        return False

    def wire(self, *, with_card: bool = True) -> WireOrder:
        # The card is only handed out once the order is fulfilled, and never in listings.
        card = self.card if with_card and self.status == "fulfilled" else None
        return WireOrder(
            id=self.id,
            reference=self.reference,
            status=self.status,
            amount_minor=self.amount_minor,
            currency=self.currency,
            brand_id=self.brand_id,
            customer_id=self.customer_id,
            created_at=self.created_at,
            updated_at=self.updated_at,
            card=card,
        )


@dataclass(slots=True, frozen=True)
class _Key:
    body: WireCreateOrder
    order_id: str
    stored_at: datetime


@dataclass(slots=True, frozen=True)
class Window:
    """A half-open listing window: a record is in it if it was created or last changed in
    [start, end)."""

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    start: datetime
    end: datetime


def _new_card(order_id: str) -> CardSecret:
    code = "-".join(secrets.token_hex(2).upper() for _ in range(4))
    return CardSecret(
        code, f"{secrets.randbelow(10_000):04d}", f"https://redeem.sandbox.invalid/{order_id}"
    )


class SandboxStore:
    """Orders and remembered idempotency keys. Every method runs without awaiting, so on one
    event loop each is atomic: two requests with one key can never both create an order."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        key_retention: timedelta,
        fulfil_delay: timedelta,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self._clock = clock
        self._retention = key_retention
        self._fulfil_delay = fulfil_delay
        self._webhooks = webhooks
        self._orders: dict[str, _Order] = {}
        # (created_at, id) of every order, sorted: the listing's keyset order, so a page is
        # found by bisection instead of sorting the whole store for every page.
        self._by_creation: list[tuple[datetime, str]] = []
        self._keys: dict[str, _Key] = {}

    def _insert(self, body: WireCreateOrder | AdminOrder, status: VendorStatus) -> _Order:
        now, order_id = self._clock(), f"vo_{secrets.token_hex(8)}"
        order = _Order(
            order_id, body.reference, status, body.amount_minor, body.currency,
            body.brand_id, body.customer_id, now, now, _new_card(order_id),
        )  # fmt: skip
        if status == "pending" and isinstance(body, WireCreateOrder):
            order.fulfil_at = now + self._fulfil_delay
        self._orders[order_id] = order
        bisect.insort(self._by_creation, (order.created_at, order_id))
        return order

    def _live(self, order_id: str) -> _Order:
        order = self._orders.get(order_id)
        if order is None:
            raise NotFound(order_id)
        if order.settle(self._clock()):
            self._announce(order)
        return order

    def _announce(self, order: _Order) -> None:
        # Only the vendor's own transitions are announced: admin changes are silent by design.
        if self._webhooks is None:
            return
        self._webhooks.changed(order.wire(with_card=False))
        if order.fulfil_at is not None:
            order_id = order.id
            self._webhooks.wake_at(order.fulfil_at, lambda: self.settle_due(order_id))

    def settle_due(self, order_id: str) -> None:
        """Let a pending order fulfil itself if its time has come (and announce it)."""
        if order_id in self._orders:
            self._live(order_id)

    def create(self, key: str, body: WireCreateOrder) -> tuple[WireOrder, bool]:
        """(order, replayed). Expired keys are forgotten here, lazily, as a vendor's TTL would."""
        known = self._keys.get(key)
        if known is not None and known.stored_at + self._retention > self._clock():
            if known.body != body:
                raise Conflict(key)
            return self._live(known.order_id).wire(), True
        order = self._insert(body, "pending" if self._fulfil_delay else "fulfilled")
        self._keys[key] = _Key(body, order.id, order.created_at)
        self._announce(order)
        return order.wire(), False

    def get(self, order_id: str) -> WireOrder:
        return self._live(order_id).wire()

    def by_reference(self, reference: str) -> list[WireOrder]:
        found = [o for o in self._orders.values() if o.reference == reference]
        return [self._live(o.id).wire() for o in sorted(found, key=lambda o: (o.created_at, o.id))]

    def transactions(self, window: Window, cursor: str | None, limit: int) -> WireTransactionPage:
        """Records created or changed in the window, so a refund days after the sale is listed
        on the day it happened. Keyset pages by (created_at, id): creation never changes, so a
        listing never sees an order twice; one changed while the listing is under way may be
        missed by it, and is listed by the run of the day it changed."""
        after = _decode_cursor(cursor) if cursor else None
        keys = self._by_creation
        rows: list[_Order] = []
        for index in range(bisect.bisect_right(keys, after) if after else 0, len(keys)):
            o = self._orders[keys[index][1]]
            if (
                window.holds(o.created_at)
                or window.holds(o.updated_at)
                or (o.fulfil_at is not None and window.holds(o.fulfil_at))
            ):
                rows.append(self._live(o.id))  # settled first, so its updated_at is fresh
                if len(rows) > limit:
                    break
        page = [o.wire(with_card=False) for o in rows[:limit]]
        more = len(rows) > limit
        return WireTransactionPage(page, _encode_cursor(page[-1]) if more else None)

    def all_orders(self) -> list[WireOrder]:
        """Every order, oldest first, without cards (a listing with no date filter)."""
        rows = sorted((self._live(o.id) for o in list(self._orders.values())),
                      key=lambda o: (o.created_at, o.id))  # fmt: skip
        return [o.wire(with_card=False) for o in rows]

    def created_in(self, window: Window) -> list[WireOrder]:
        """Orders created in the window, oldest first, without cards (a listing by creation
        time, as vendors that keep no change time list)."""
        rows = [self._live(o.id) for o in list(self._orders.values()) if window.holds(o.created_at)]
        rows.sort(key=lambda o: (o.created_at, o.id))
        return [o.wire(with_card=False) for o in rows]

    def stats(self) -> dict[str, object]:
        counts = Counter(o.reference for o in self._orders.values())
        dupes = sorted(ref for ref, n in counts.items() if n > 1)
        stats: dict[str, object] = {"orders": len(self._orders), "duplicate_references": dupes}
        # Webhook counters appear only when webhooks are configured: without a sender there is
        # nothing to count, and the keys' presence says which mode the sandbox runs in.
        return stats | (self._webhooks.stats() if self._webhooks else {})

    def admin_create(self, raw: bytes) -> WireOrder:
        body = msgspec.json.decode(raw, type=AdminOrder)
        return self._insert(body, body.status).wire()

    def admin_patch(self, order_id: str, raw: bytes) -> WireOrder:
        change = msgspec.json.decode(raw, type=AdminPatch)
        order = self._live(order_id)
        if change.status is not None:
            order.status, order.fulfil_at = change.status, None
        if change.amount_minor is not None:
            order.amount_minor = change.amount_minor
        order.updated_at = self._clock()
        return order.wire()

    def delete(self, order_id: str) -> None:
        order = self._orders.pop(order_id, None)
        if order is None:
            raise NotFound(order_id)
        self._by_creation.remove((order.created_at, order_id))
        # The vendor lost the record, and with it any memory of the key that created it.
        self._keys = {k: v for k, v in self._keys.items() if v.order_id != order_id}


def _encode_cursor(last: WireOrder) -> str:
    raw = _cursor_encoder.encode([last.created_at, last.id])
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, order_id = msgspec.json.decode(
            base64.urlsafe_b64decode(cursor), type=tuple[datetime, str]
        )
    except (ValueError, msgspec.DecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    return created_at, order_id
