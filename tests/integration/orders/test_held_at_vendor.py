"""An order the vendor says it already holds under our reference, without naming it (Tremendous'
409, Tango's 409.024, Runa's idempotency error), is looked up next: sending the same create
again is refused the same way until the vendor forgets our key, hours or days later."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ledger.orders.fulfilment import Fulfilment
from ledger.orders.intake import Intake
from ledger.orders.vault import CardVault
from ledger.vendors.base import (
    REFERENCE_CONFLICT,
    Rejected,
    Unknown,
    VendorOrderRequest,
    VendorOrderView,
)
from ledger.vendors.breaker import CircuitBreaker
from ledger.vendors.client import VendorClient
from tests.factories import submit_order


class HoldsItUnnamed:
    """Times out the first create; after that refuses every create as a conflict that names no
    order, and finds the order, fulfilled, by our reference."""

    name = "holds"
    key_retention = timedelta(hours=24)

    def __init__(self, *, by_reference: bool = True) -> None:
        self.looks_up_by_reference = by_reference
        self.creates: list[VendorOrderRequest] = []
        self.lookups = 0

    async def create_order(self, req: VendorOrderRequest):
        self.creates.append(req)
        if len(self.creates) == 1:
            return Unknown("timeout", "no answer in 2 s")
        return Rejected(REFERENCE_CONFLICT, "idempotency key used with another payload", 409)

    async def get_order(self, reference: str, vendor_order_id: str | None = None):
        self.lookups += 1
        at = datetime(2026, 12, 1, tzinfo=UTC)
        return VendorOrderView("vo-held", reference, "fulfilled", 2500, "USD", at, at)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def _no_sleep(_: float) -> None:
    return None


def _fulfilment(pool, adapter, clock) -> Fulfilment:
    client = VendorClient(adapter, breaker=CircuitBreaker(), rng=random.Random(1), sleep=_no_sleep)
    return Fulfilment(pool, {"holds": client}, CardVault(bytes(32)), clock)


async def test_a_conflict_naming_no_order_is_looked_up_next_not_sent_again(pool, leases):
    adapter, clock = HoldsItUnnamed(), Clock()
    fulfilment = _fulfilment(pool, adapter, clock)
    cmd = submit_order(idempotency_key="held-1", vendor="holds", amount_minor=2500)
    await Intake(fulfilment, leases, clock, 1.0).submit(cmd, {})
    # The conflict ends the call: sending the same create again is refused the same way.
    assert len(adapter.creates) == 2

    state = await fulfilment.load(cmd.stream_id)
    assert state is not None and state.next_attempt_at is not None
    clock.now = state.next_attempt_at
    state = await fulfilment.advance(cmd.stream_id, {}, on_schedule=False)
    assert len(adapter.creates) == 2, "sent again into the same refusal"
    assert adapter.lookups == 1
    assert state is not None and state.status == "fulfilled"
    assert state.vendor_order_id == "vo-held"


async def test_a_vendor_that_cannot_look_up_by_reference_is_asked_by_the_create_again(pool, leases):
    """Runa finds an order by its own id only: replaying the create is the only question."""
    adapter, clock = HoldsItUnnamed(by_reference=False), Clock()
    fulfilment = _fulfilment(pool, adapter, clock)
    cmd = submit_order(idempotency_key="held-2", vendor="holds", amount_minor=2500)
    await Intake(fulfilment, leases, clock, 1.0).submit(cmd, {})
    state = await fulfilment.load(cmd.stream_id)
    assert state is not None and state.next_attempt_at is not None
    clock.now = state.next_attempt_at
    await fulfilment.advance(cmd.stream_id, {}, on_schedule=False)
    assert len(adapter.creates) == 3 and adapter.lookups == 0
