"""RestVendorAdapter classification and VendorClient retries/breaker, against aioresponses."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import msgspec
import pytest
from aioresponses import aioresponses
from yarl import URL

from ledger.vendors.base import (
    Accepted,
    CardSecret,
    Fulfilled,
    Outcome,
    Rejected,
    Unknown,
    VendorOrderRequest,
    VendorUnavailable,
)
from ledger.vendors.client import CircuitBreaker, VendorClient
from ledger.vendors.rest import RestVendorAdapter

BASE = "http://vendor.test"
ORDERS = f"{BASE}/v1/orders"
REQ = VendorOrderRequest("ref-0001-abcd", 2500, "USD", "amazon-us", "cust-1")
NOW = datetime(2026, 10, 21, 7, 27, 30, tzinfo=UTC)


def order_json(status: str = "fulfilled", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": "vo_1",
        "reference": REQ.reference,
        "status": status,
        "amount_minor": REQ.amount_minor,
        "currency": "USD",
        "created_at": "2026-10-21T07:27:30Z",
        "updated_at": "2026-10-21T07:27:30Z",
    }
    body.update(extra)
    return body


def error_json(code: str) -> dict[str, object]:
    return {"error": {"code": code, "message": f"{code} happened"}}


class Journal:
    """Records what VendorClient tells the journal, in order."""

    def __init__(self) -> None:
        self.entries: list[tuple[object, ...]] = []

    async def before_attempt(self, attempt: int) -> None:
        self.entries.append(("before", attempt))

    async def after_attempt(self, attempt: int, outcome: Outcome) -> None:
        self.entries.append(("after", attempt, type(outcome).__name__))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _SentRequest:
    output_size = 0


class _CompatResponse(aiohttp.ClientResponse):
    # aioresponses 0.7.9 builds responses without the `stream_writer` argument aiohttp 3.14 made
    # required (pnuckowski/aioresponses#289). The request counts as sent, so only its size is read.
    def __init__(self, method: str, url: URL, **kwargs: object) -> None:
        kwargs.setdefault("stream_writer", _SentRequest())
        super().__init__(method, url, **kwargs)  # type: ignore[arg-type]


class VendorMock(aioresponses):
    def add(self, url, method="GET", **kwargs):  # type: ignore[override]
        kwargs.setdefault("response_class", _CompatResponse)
        super().add(url, method, **kwargs)


@pytest.fixture
def vendor() -> Iterator[aioresponses]:
    with VendorMock() as mocked:
        yield mocked


@pytest.fixture
async def adapter() -> AsyncIterator[RestVendorAdapter]:
    async with aiohttp.ClientSession() as session:
        yield RestVendorAdapter(
            "acme", BASE, session, "k_test", 2.0, timedelta(hours=24), clock=lambda: NOW
        )


def make_client(adapter: RestVendorAdapter, breaker: CircuitBreaker | None = None, **kw: object):
    sleeps = Sleeps()
    client = VendorClient(
        adapter,
        breaker=breaker or CircuitBreaker(),
        sleep=sleeps,
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]
    )
    return client, sleeps


def sent(vendor: aioresponses) -> list[aiohttp.client.ClientRequest]:
    return vendor.requests.get(("POST", URL(ORDERS)), [])


# --- classification of one attempt ---------------------------------------------------------


async def test_a_timeout_is_an_unknown_timeout(vendor, adapter):
    vendor.post(ORDERS, exception=TimeoutError())
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "timeout"


async def test_aiohttp_server_timeouts_count_as_timeouts_not_connection_errors(vendor, adapter):
    vendor.post(ORDERS, exception=aiohttp.ServerTimeoutError("read timed out"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "timeout"


@pytest.mark.parametrize(
    "exc", [aiohttp.ClientConnectionError("refused"), aiohttp.ServerDisconnectedError()]
)
async def test_connection_failures_are_unknown_connection(vendor, adapter, exc):
    vendor.post(ORDERS, exception=exc)
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "connection"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_unknown_with_the_status(vendor, adapter, status):
    vendor.post(ORDERS, status=status, payload=error_json("internal"))
    assert await adapter.create_order(REQ) == Unknown("server_error", "internal", status)


async def test_a_429_carries_retry_after_in_seconds(vendor, adapter):
    vendor.post(ORDERS, status=429, payload=error_json("slow_down"), headers={"Retry-After": "3"})
    assert await adapter.create_order(REQ) == Unknown("rate_limited", "slow_down", 429, 3.0)


async def test_a_429_retry_after_http_date_is_converted_to_seconds_from_now(vendor, adapter):
    headers = {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}
    vendor.post(ORDERS, status=429, body="busy", content_type="text/plain", headers=headers)
    outcome = await adapter.create_order(REQ)
    assert outcome == Unknown("rate_limited", "http_429", 429, 30.0)


@pytest.mark.parametrize(
    ("status", "code"),
    [(422, "brand_not_found"), (400, "invalid_request"), (409, "duplicate_reference")],
)
async def test_vendor_validation_errors_are_terminal_rejections(vendor, adapter, status, code):
    vendor.post(ORDERS, status=status, payload=error_json(code))
    assert await adapter.create_order(REQ) == Rejected(code, f"{code} happened", status)


async def test_a_409_for_a_key_still_in_flight_is_ambiguous_not_rejected(vendor, adapter):
    vendor.post(ORDERS, status=409, payload=error_json("idempotency_key_in_use"))
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "rate_limited"


async def test_a_fulfilled_reply_yields_the_card(vendor, adapter):
    card = {"code": "AAAA-BBBB", "pin": "1234", "url": "https://r.test/1"}
    vendor.post(ORDERS, status=201, payload=order_json(card=card))
    outcome = await adapter.create_order(REQ)
    assert outcome == Fulfilled(
        "vo_1", "fulfilled", CardSecret("AAAA-BBBB", "1234", "https://r.test/1")
    )


async def test_a_pending_reply_is_accepted_and_a_failed_one_rejected(vendor, adapter):
    vendor.post(ORDERS, status=201, payload=order_json("pending"))
    vendor.post(ORDERS, status=200, payload=order_json("failed"))
    assert await adapter.create_order(REQ) == Accepted("vo_1", "pending")
    assert await adapter.create_order(REQ) == Rejected(
        "vendor_failed", "vendor reports the order failed", 200, "vo_1"
    )


async def test_an_unreadable_success_body_is_unknown_because_the_order_may_exist(vendor, adapter):
    vendor.post(ORDERS, status=201, body="<html>ok</html>", content_type="text/html")
    outcome = await adapter.create_order(REQ)
    assert isinstance(outcome, Unknown) and outcome.reason == "server_error"


async def test_the_request_carries_the_reference_as_key_and_the_api_key(vendor, adapter):
    vendor.post(ORDERS, status=201, payload=order_json())
    await adapter.create_order(REQ)
    (call,) = sent(vendor)
    assert call.kwargs["headers"]["Idempotency-Key"] == REQ.reference
    assert call.kwargs["headers"]["Authorization"] == "Bearer k_test"
    assert msgspec.json.decode(call.kwargs["data"]) == msgspec.structs.asdict(REQ)


def test_card_secrets_never_appear_in_reprs():
    outcome = Fulfilled("vo_1", "fulfilled", CardSecret("SECRET-CODE", "9876"))
    assert "SECRET-CODE" not in repr(outcome) and "9876" not in repr(outcome)


# --- reads ---------------------------------------------------------------------------------


async def test_get_order_returns_none_when_the_vendor_has_no_such_reference(vendor, adapter):
    vendor.get(f"{ORDERS}?reference={REQ.reference}", payload=[])
    assert await adapter.get_order(REQ.reference) is None


async def test_get_order_returns_the_earliest_of_duplicate_orders(vendor, adapter):
    later = order_json(id="vo_2", created_at="2026-10-21T08:00:00Z")
    vendor.get(f"{ORDERS}?reference={REQ.reference}", payload=[later, order_json()])
    view = await adapter.get_order(REQ.reference)
    assert view is not None and view.vendor_order_id == "vo_1"


@pytest.mark.parametrize(
    "failure", [{"status": 503}, {"exception": TimeoutError()}, {"status": 429}]
)
async def test_get_order_raises_unavailable_rather_than_claiming_absence(vendor, adapter, failure):
    vendor.get(f"{ORDERS}?reference={REQ.reference}", **failure)
    with pytest.raises(VendorUnavailable):
        await adapter.get_order(REQ.reference)


async def test_list_transactions_sends_the_window_and_decodes_the_page(vendor, adapter):
    start, end = NOW - timedelta(days=1), NOW
    url = f"{BASE}/v1/transactions?from=2026-10-20T07:27:30Z&to=2026-10-21T07:27:30Z&limit=50"
    vendor.get(url, payload={"data": [order_json()], "next_cursor": "c2"})
    page = await adapter.list_transactions(start, end, None, 50)
    assert [r.reference for r in page.records] == [REQ.reference] and page.next_cursor == "c2"


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
