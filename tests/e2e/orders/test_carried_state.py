"""The intake folds what it appends instead of reading it back: what it answers must be exactly
what a fold of the log gives, and a writer that gets in between is folded in, never lost."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import aiohttp

from ledger.log import events as ev
from ledger.log import store
from ledger.orders.decisions import decide_submission
from ledger.orders.fulfilment import Fulfilment
from ledger.orders.intake import Intake
from ledger.orders.model import fold
from ledger.orders.vault import CardVault
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
