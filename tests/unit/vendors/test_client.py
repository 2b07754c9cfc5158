"""VendorClient: retries with the same key, backoff, Retry-After and the breaker."""

from __future__ import annotations

import random

import pytest
from yarl import URL

from ledger.vendors.base import (
    Accepted,
    Fulfilled,
    Rejected,
    Unknown,
    VendorOrderRequest,
    VendorUnavailable,
)
from ledger.vendors.breaker import CircuitBreaker
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


# --- circuit breaker and ambiguity --------------------------------------------------------


def dead_vendor_breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(minimum_calls=3, window_s=30.0, open_for_s=30.0, probes=1, clock=clock)


async def opened(vendor, adapter):
    """A client whose breaker three 503s opened: (client, breaker, clock)."""
    vendor.post(ORDERS, status=503, repeat=True)
    clock = Clock()
    breaker = dead_vendor_breaker(clock)
    client, _ = make_client(adapter, breaker, max_attempts=1)
    for _ in range(3):
        await client.submit(REQ, Journal())
    return client, breaker, clock


async def test_an_open_breaker_short_circuits_and_says_when_to_come_back(vendor, adapter):
    client, breaker, clock = await opened(vendor, adapter)
    assert breaker.state == "open"
    clock.now += 10.0
    journal = Journal()
    outcome = await client.submit(REQ, journal)
    assert isinstance(outcome, Unknown) and outcome.reason == "circuit_open"
    assert outcome.retry_after == pytest.approx(20.0)
    assert journal.entries == [] and len(sent(vendor)) == 3


async def test_rejections_count_as_a_healthy_vendor(vendor, adapter):
    vendor.post(ORDERS, status=503)
    vendor.post(ORDERS, status=422, payload=error_json("brand_not_found"))
    vendor.post(ORDERS, status=503)
    breaker = CircuitBreaker(minimum_calls=3, failure_rate=0.9, clock=Clock())
    client, _ = make_client(adapter, breaker, max_attempts=1)
    for _ in range(3):
        await client.submit(REQ, Journal())
    assert breaker.state == "closed"


async def test_a_401_after_a_timeout_is_unknown_not_a_refusal(vendor, adapter):
    vendor.post(ORDERS, exception=TimeoutError())
    vendor.post(ORDERS, status=401, payload=error_json("unauthorized"))
    client, _ = make_client(adapter, max_attempts=2)
    outcome = await client.submit(REQ, Journal())
    assert isinstance(outcome, Unknown) and outcome.reason == "unexpected_reply"
    assert outcome.http_status == 401


@pytest.mark.parametrize(
    ("status", "code"), [(401, "unauthorized"), (404, "not_found"), (413, "x")]
)
async def test_a_non_business_4xx_fails_an_order_only_when_no_attempt_may_exist(
    vendor, adapter, status, code
):
    vendor.post(ORDERS, status=status, payload=error_json(code), repeat=True)
    client, _ = make_client(adapter, max_attempts=1)
    assert isinstance(await client.submit(REQ, Journal()), Rejected)
    earlier = await client.submit(REQ, Journal(), vendor_may_have_it=True)
    assert isinstance(earlier, Unknown) and earlier.reason == "unexpected_reply"


async def test_an_order_the_vendor_holds_under_our_key_after_an_unanswered_attempt_is_ours(
    vendor, adapter
):
    """Our reference is our order's alone, so what a vendor holds under it after an attempt
    went unanswered is that attempt's order (sent before a brand or product was remapped,
    say), charged: it is looked up, never failed for the merchant to buy again."""
    vendor.post(ORDERS, status=200, payload=order_json(amount_minor=9900), repeat=True)
    client, _ = make_client(adapter, max_attempts=1)
    first = await client.submit(REQ, Journal())
    assert isinstance(first, Rejected) and first.code == "reference_conflict"
    earlier = await client.submit(REQ, Journal(), vendor_may_have_it=True)
    assert earlier == Accepted("vo_1", "reference_conflict")


async def test_a_conflict_naming_no_order_after_an_unanswered_attempt_is_unknown(vendor, adapter):
    client, _ = make_client(adapter, max_attempts=1)
    rejected = Rejected("reference_conflict", "held by another payload", 409)
    adapter.create_order = _answering(rejected)  # as Tremendous' 409 and Runa's say it
    earlier = await client.submit(REQ, Journal(), vendor_may_have_it=True)
    assert isinstance(earlier, Unknown) and earlier.reason == "reference_conflict"


async def test_a_conflict_ends_the_call_since_sending_it_again_is_refused_the_same_way(
    vendor, adapter
):
    client, _ = make_client(adapter, max_attempts=4)
    rejected = Rejected("reference_conflict", "held by another payload", 409)
    sent: list[VendorOrderRequest] = []

    async def create_order(req):
        sent.append(req)
        return rejected

    adapter.create_order = create_order
    earlier = await client.submit(REQ, Journal(), vendor_may_have_it=True)
    assert isinstance(earlier, Unknown) and earlier.reason == "reference_conflict"
    assert len(sent) == 1


def _answering(outcome):
    async def create_order(req):
        return outcome

    return create_order


async def test_a_business_error_fails_an_order_even_after_a_timeout(vendor, adapter):
    vendor.post(ORDERS, exception=TimeoutError())
    vendor.post(ORDERS, status=422, payload=error_json("brand_not_found"))
    client, _ = make_client(adapter, max_attempts=2)
    outcome = await client.submit(REQ, Journal(), vendor_may_have_it=True)
    assert isinstance(outcome, Rejected) and outcome.code == "brand_not_found"


async def test_a_lookup_takes_the_breaker_and_counts_towards_it(vendor, adapter):
    lookup_url = f"{ORDERS}?reference={REQ.reference}"
    vendor.get(lookup_url, status=503, repeat=True)
    clock = Clock()
    breaker = dead_vendor_breaker(clock)
    client, _ = make_client(adapter, breaker)
    for _ in range(3):
        with pytest.raises(VendorUnavailable):
            await client.lookup(REQ.reference)
    assert breaker.state == "open"
    with pytest.raises(VendorUnavailable) as refused:
        await client.lookup(REQ.reference)
    assert refused.value.reason == "circuit_open" and refused.value.retry_after == 30.0
    assert len(vendor.requests[("GET", URL(lookup_url))]) == 3


async def test_a_breaker_opening_mid_submit_returns_the_last_real_outcome(vendor, adapter):
    vendor.post(ORDERS, status=503, repeat=True)
    breaker = CircuitBreaker(minimum_calls=2, clock=Clock())
    client, _ = make_client(adapter, breaker, max_attempts=4)
    journal = Journal()
    outcome = await client.submit(REQ, journal)
    assert outcome == Unknown("server_error", "http_503", 503)
    assert len(journal.entries) == 4 and len(sent(vendor)) == 2


class JournalAway(Journal):
    """A journal whose database is away: the attempt cannot be recorded, so it is not sent."""

    async def before_attempt(self, attempt: int) -> None:
        raise ConnectionError("database away")


async def test_a_probe_that_is_never_sent_does_not_hold_the_breaker_shut(vendor, adapter):
    client, breaker, clock = await opened(vendor, adapter)
    clock.now += 30.0  # half-open: one probe may go
    with pytest.raises(ConnectionError):
        await client.submit(REQ, JournalAway())
    assert len(sent(vendor)) == 3, "the probe was never sent"
    clock.now += 1e6
    assert breaker.allow(), "the breaker is shut for good by a probe that never went out"


async def test_a_look_up_answered_with_another_references_record_settles_nothing(vendor, adapter):
    """A vendor that ignored the filter answers with the first order it holds: someone else's
    status, and card, must never become ours."""
    vendor.get(f"{ORDERS}?reference={REQ.reference}", payload=[order_json(reference="ref-other")])
    client, _ = make_client(adapter)
    with pytest.raises(VendorUnavailable) as refused:
        await client.lookup(REQ.reference)
    assert refused.value.reason == "bad_response" and "ref-other" in str(refused.value)
