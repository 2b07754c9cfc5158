"""A vendor with no idempotency for our reference (Reloadly) is sent an order again only when a
look-up finds nothing and the unanswered attempt is old enough to show there: a create that
timed out may still be finishing, and its listing may show it late."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ledger.orders.fulfilment import Fulfilment
from ledger.orders.intake import Intake
from ledger.orders.schedule import DEFAULT_POLICY
from ledger.orders.vault import CardVault
from ledger.vendors.base import Unknown, VendorOrderRequest
from ledger.vendors.breaker import CircuitBreaker
from ledger.vendors.client import VendorClient
from tests.factories import submit_order


class SlowToList:
    """Times out every create, and lists nothing (yet): as Reloadly a second after a timeout."""

    name = "slow"
    key_retention = timedelta(0)
    looks_up_by_reference = True

    def __init__(self) -> None:
        self.creates: list[VendorOrderRequest] = []

    async def create_order(self, req: VendorOrderRequest):
        self.creates.append(req)
        return Unknown("timeout", "no answer in 2 s")

    async def get_order(self, reference: str, vendor_order_id: str | None = None):
        return None


class Clock:
    """Now, moved on by hand: the log stamps events with the database's own time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_not_found_right_after_a_timed_out_create_does_not_send_it_again(pool, leases):
    adapter, clock = SlowToList(), Clock()
    start = clock.now
    client = VendorClient(adapter, breaker=CircuitBreaker(), rng=random.Random(1))
    fulfilment = Fulfilment(pool, {"slow": client}, CardVault(bytes(32)), clock)
    cmd = submit_order(idempotency_key="settle-1", vendor="slow")
    await Intake(fulfilment, leases, clock, 1.0).submit(cmd, {})
    # Timed out, and never sent again inline (the client would try 4 times with a key).
    assert len(adapter.creates) == 1

    clock.now += timedelta(seconds=5)  # the retry is due; a look-up finds nothing yet
    state = await fulfilment.advance(cmd.stream_id, {}, on_schedule=False)
    assert len(adapter.creates) == 1, "sent again while the first may still show up"
    assert state is not None and state.status == "pending"
    due = state.next_attempt_at
    settle = timedelta(seconds=DEFAULT_POLICY.not_found_settle_s)
    assert due is not None and due >= start + settle

    clock.now = due  # settled, and still nothing there: now it is safe to send
    await fulfilment.advance(cmd.stream_id, {}, on_schedule=False)
    assert len(adapter.creates) == 2
    assert {c.reference for c in adapter.creates} == {adapter.creates[0].reference}
