"""The intake folds what it appends instead of reading it back: what it answers must be exactly
what a fold of the log gives, and a writer that gets in between is folded in, never lost."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import aiohttp

from ledger.log import events as ev
from ledger.log import store
from ledger.log.leases import OrderLeases
from ledger.orders.decisions import decide_submission
from ledger.orders.fulfilment import Fulfilment
from ledger.orders.intake import Intake
from ledger.orders.model import fold
from ledger.orders.vault import CardVault
from ledger.vendors.base import VendorUnavailable
from ledger.vendors.breaker import CircuitBreaker
from ledger.vendors.client import VendorClient
from ledger.vendors.rest import RestVendorAdapter
from tests.factories import submit_order
from tests.harness import sandbox

# Every kind of answer, and attempts that get none: each order's log takes a different path.
FAULTS = "seed=5,timeout_after_commit=0.2,error_5xx=0.2,rate_429=0.1"


def now() -> datetime:
    return datetime.now(UTC)


async def test_every_answer_is_the_state_and_card_a_fold_of_the_log_gives(pool, leases):
    vault = CardVault(bytes(32))
    async with sandbox(FAULTS) as (url, _), aiohttp.ClientSession() as session:
        adapter = RestVendorAdapter("sandbox", url, session, "sk_test", 0.3, timedelta(hours=24))
        client = VendorClient(
            adapter, base_delay=0.01, max_delay=0.05, breaker=CircuitBreaker(), rng=random.Random(1)
        )
        fulfilment = Fulfilment(pool, {"sandbox": client}, vault, now, jitter=lambda: 0.5)
        intake = Intake(fulfilment, leases, now, sync_budget_s=10.0)
        kinds = set()
        for i in range(30):
            cmd = submit_order(idempotency_key=f"carried-{i:03d}")
            result = await intake.submit(cmd, {"actor": "test"})
            logged = await store.read_stream(pool, cmd.stream_id)
            assert result.state == fold(logged), f"order {i}: the answer is not the log's fold"
            expected_card = await vault.load(pool, cmd.stream_id) if result.card else None
            assert result.card == expected_card
            kinds |= {e.type for e in logged}
            replayed = await intake.submit(cmd, {"actor": "test"})
            assert replayed.outcome == "replay" and replayed.state == result.state
            assert replayed.card == result.card
    # The faults took the orders down every path the journal and the schedule write.
    assert {"VendorCallFailed", "VendorResponseReceived", "RetryScheduled"} <= kinds


async def test_an_append_that_another_writer_got_in_before_is_made_after_it_and_folded(pool):
    fulfilment = Fulfilment(pool, {}, CardVault(bytes(32)), now)
    cmd = submit_order(idempotency_key="raced")
    _, (requested,) = decide_submission(None, cmd, in_flight=False, now=now())
    await store.append(pool, cmd.stream_id, [requested], 0)
    carried = await fulfilment.load(cmd.stream_id)
    assert carried is not None
    # A webhook's hint lands after the state was read: the carried version is stale.
    hint = ev.WebhookReceived(
        vendor="sandbox",
        webhook_id="evt_1",
        event_type="order.fulfilled",
        reported_status="fulfilled",
        reference=requested.vendor_reference,
        vendor_order_id=None,
        body_sha256="0" * 64,
        received_at=now(),
    )
    await store.append_observed(pool, cmd.stream_id, [hint])
    sent = ev.VendorRequestSent(
        vendor="sandbox", vendor_reference=requested.vendor_reference, attempt=1, sent_at=now()
    )
    async with pool.acquire() as conn:
        after = await fulfilment.record(conn, carried, [sent], {})
    logged = await store.read_stream(pool, cmd.stream_id)
    assert [e.type for e in logged] == ["OrderRequested", "WebhookReceived", "VendorRequestSent"]
    assert after == fold(logged)
    assert after.hint_pending and after.attempts == 1


class DownForLookups:
    """A vendor whose lookups fail; while one is under way, the client retries and is refused."""

    class adapter:  # what VendorClient's attribute of that name offers the step
        key_retention = timedelta(0)  # keys forgotten at once: an unanswered order is looked up
        looks_up_by_reference = True

    def __init__(self, pool, stream_id: str) -> None:
        self._pool, self._stream_id = pool, stream_id

    async def lookup(self, reference, vendor_order_id=None):
        refused = ev.IdempotencyConflict(reason="in_flight", fingerprint="f" * 64, at=now())
        await store.append_observed(self._pool, self._stream_id, [refused])
        raise VendorUnavailable("vendor_5xx", "503 from the vendor")


async def test_a_lookup_the_vendor_cannot_answer_is_rescheduled_past_a_refused_retry(pool):
    cmd = submit_order(idempotency_key="unanswered")
    _, (requested,) = decide_submission(None, cmd, in_flight=False, now=now())
    sent = ev.VendorRequestSent(
        vendor="sandbox", vendor_reference=requested.vendor_reference, attempt=1, sent_at=now()
    )
    await store.append(pool, cmd.stream_id, [requested, sent], 0)  # no answer: look it up
    vendors = {"sandbox": DownForLookups(pool, cmd.stream_id)}
    fulfilment = Fulfilment(pool, vendors, CardVault(bytes(32)), now, jitter=lambda: 0.5)
    after = await fulfilment.advance(cmd.stream_id, {}, on_schedule=False)
    logged = await store.read_stream(pool, cmd.stream_id)
    assert [e.type for e in logged][2:] == ["IdempotencyConflict", "RetryScheduled"]
    assert after == fold(logged) and after.retries == 1 and after.next_attempt_at > now()


async def test_a_settled_order_is_replayed_while_another_node_holds_its_lease(
    pool, leases, database_url
):
    fulfilment = Fulfilment(pool, {}, CardVault(bytes(32)), now)
    intake = Intake(fulfilment, leases, now, sync_budget_s=1.0)
    settled, pending = submit_order(idempotency_key="settled"), submit_order(idempotency_key="open")
    for cmd, more in ((settled, [ev.OrderFailed(reason="x", source="manual", failed_at=now())]),
                      (pending, [])):  # fmt: skip
        _, (requested,) = decide_submission(None, cmd, in_flight=False, now=now())
        await store.append(pool, cmd.stream_id, [requested, *more], 0)
    other_node = OrderLeases(database_url)
    try:
        # A lookup a webhook asked for, say, on another node.
        assert await other_node.try_acquire(settled.stream_id)
        assert await other_node.try_acquire(pending.stream_id)
        replayed = await intake.submit(settled, {})
        assert replayed.outcome == "replay" and replayed.state.status == "failed"
        assert (await intake.submit(pending, {})).outcome == "in_flight"
    finally:
        await other_node.close()
