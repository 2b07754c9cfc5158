"""VendorClient: retries with the same key, backoff, Retry-After and the breaker."""

from __future__ import annotations

import random

from ledger.vendors.base import (
    Fulfilled,
    Rejected,
    Unknown,
)
from ledger.vendors.client import CircuitBreaker
from tests.unit.vendors.rest_doubles import (
    ORDERS,
    REQ,
    Clock,
    Journal,
    error_json,
    make_client,
    order_json,
    sent,
)

# --- retries -------------------------------------------------------------------------------


async def test_unknown_outcomes_are_retried_with_the_same_key_until_fulfilled(vendor, adapter):
    vendor.post(ORDERS, status=503)
    vendor.post(ORDERS, exception=TimeoutError())
    vendor.post(ORDERS, status=201, payload=order_json())
    client, _ = make_client(adapter)
    outcome = await client.submit(REQ, Journal())
    assert isinstance(outcome, Fulfilled)
    calls = sent(vendor)
    assert [c.kwargs["headers"]["Idempotency-Key"] for c in calls] == [REQ.reference] * 3
    assert len({c.kwargs["data"] for c in calls}) == 1


async def test_the_journal_hears_of_each_attempt_before_and_after_it(vendor, adapter):
    vendor.post(ORDERS, status=500)
    vendor.post(ORDERS, status=201, payload=order_json())
    journal = Journal()
    client, _ = make_client(adapter)
    await client.submit(REQ, journal)
    assert journal.entries == [
        ("before", 1),
        ("after", 1, "Unknown"),
        ("before", 2),
        ("after", 2, "Fulfilled"),
    ]


async def test_a_rejection_is_final_and_not_retried(vendor, adapter):
    vendor.post(ORDERS, status=422, payload=error_json("brand_not_found"), repeat=True)
    client, sleeps = make_client(adapter)
    outcome = await client.submit(REQ, Journal())
    assert isinstance(outcome, Rejected) and len(sent(vendor)) == 1 and sleeps.delays == []


async def test_backoff_is_full_jitter_under_an_exponential_ceiling(vendor, adapter):
    vendor.post(ORDERS, status=503, repeat=True)
    client, sleeps = make_client(adapter, max_attempts=5, base_delay=0.1, max_delay=0.5)
    outcome = await client.submit(REQ, Journal())
    assert isinstance(outcome, Unknown) and len(sent(vendor)) == 5
    ceilings = [0.1, 0.2, 0.4, 0.5]  # base * 2**n, capped at max_delay
    replay = random.Random(7)
    assert sleeps.delays == [replay.uniform(0, c) for c in ceilings]
    assert all(0 <= d <= c for d, c in zip(sleeps.delays, ceilings, strict=True))


async def test_retry_after_is_honoured_as_the_minimum_wait(vendor, adapter):
    vendor.post(ORDERS, status=429, headers={"Retry-After": "2"})
    vendor.post(ORDERS, status=201, payload=order_json())
    client, sleeps = make_client(adapter, base_delay=0.1, max_delay=5.0)
    assert isinstance(await client.submit(REQ, Journal()), Fulfilled)
    assert sleeps.delays == [2.0]


async def test_retry_after_beyond_max_delay_hands_the_unknown_back_without_waiting(vendor, adapter):
    vendor.post(ORDERS, status=429, headers={"Retry-After": "60"}, repeat=True)
    client, sleeps = make_client(adapter, max_delay=5.0)
    outcome = await client.submit(REQ, Journal())
    assert outcome == Unknown("rate_limited", "http_429", 429, 60.0)
    assert sleeps.delays == [] and len(sent(vendor)) == 1


# --- circuit breaker -----------------------------------------------------------------------


async def test_the_breaker_opens_after_consecutive_unknowns_and_short_circuits(vendor, adapter):
    vendor.post(ORDERS, status=503, repeat=True)
    breaker = CircuitBreaker(failure_threshold=3, reset_after=30.0, clock=Clock())
    client, _ = make_client(adapter, breaker, max_attempts=1)
    for _ in range(3):
        await client.submit(REQ, Journal())
    assert breaker.state == "open"
    journal = Journal()
    outcome = await client.submit(REQ, journal)
    assert outcome.reason == "circuit_open"  # type: ignore[union-attr]
    assert journal.entries == [] and len(sent(vendor)) == 3


async def test_rejections_do_not_count_towards_opening_the_breaker(vendor, adapter):
    vendor.post(ORDERS, status=503)
    vendor.post(ORDERS, status=422, payload=error_json("brand_not_found"))
    vendor.post(ORDERS, status=503)
    breaker = CircuitBreaker(failure_threshold=2, clock=Clock())
    client, _ = make_client(adapter, breaker, max_attempts=1)
    for _ in range(3):
        await client.submit(REQ, Journal())
    assert breaker.state == "closed"


async def test_the_breaker_half_opens_after_reset_and_closes_on_a_success(vendor, adapter):
    vendor.post(ORDERS, status=503, repeat=2)
    vendor.post(ORDERS, status=201, payload=order_json())
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after=30.0, clock=clock)
    client, _ = make_client(adapter, breaker, max_attempts=1)
    await client.submit(REQ, Journal())
    await client.submit(REQ, Journal())
    clock.now += 29.9
    assert breaker.state == "open"
    clock.now += 0.1
    assert breaker.state == "half_open"
    assert isinstance(await client.submit(REQ, Journal()), Fulfilled)
    assert breaker.state == "closed"


def test_half_open_lets_exactly_one_trial_through_and_a_failed_trial_reopens():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after=10.0, clock=clock)
    breaker.record_failure()
    clock.now += 10.0
    assert breaker.allow() is True
    assert breaker.allow() is False
    breaker.record(Unknown("timeout", "again"))
    assert breaker.state == "open"
    clock.now += 10.0
    assert breaker.allow() is True


async def test_a_breaker_opening_mid_submit_returns_the_last_real_outcome(vendor, adapter):
    vendor.post(ORDERS, status=503, repeat=True)
    breaker = CircuitBreaker(failure_threshold=2, clock=Clock())
    client, _ = make_client(adapter, breaker, max_attempts=4)
    journal = Journal()
    outcome = await client.submit(REQ, journal)
    assert outcome == Unknown("server_error", "http_503", 503)
    assert len(journal.entries) == 4 and len(sent(vendor)) == 2
