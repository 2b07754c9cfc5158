"""The per-vendor token bucket, on a fake clock whose sleeps advance it."""

import asyncio
import random
import tomllib
from datetime import timedelta

import msgspec
import pytest

from ledger.vendors.base import Fulfilled, Unknown, VendorOrderRequest
from ledger.vendors.breaker import CircuitBreaker
from ledger.vendors.client import VendorClient
from ledger.vendors.ratelimit import TokenBucket
from ledger.vendors.vendors_file import VendorConfig, VendorsFile

REQ = VendorOrderRequest("ref-0001-abcd", 2500, "USD", "amazon-us", "cust-1")


class FakeTime:
    """monotonic() and sleep() in one: sleeping moves the clock, and is recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


async def test_a_full_bucket_lets_a_burst_through_without_waiting():
    time = FakeTime()
    bucket = TokenBucket(5, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        await bucket.acquire()
    assert time.sleeps == []


async def test_past_the_burst_calls_are_spaced_at_the_rate():
    time = FakeTime()
    bucket = TokenBucket(10, burst=1, clock=time.clock, sleep=time.sleep)
    for _ in range(4):
        await bucket.acquire()
    assert time.sleeps == pytest.approx([0.1, 0.1, 0.1])
    assert time.now == pytest.approx(100.3)  # four calls in 0.3 s at 10/s with a burst of one


async def test_concurrent_waiters_queue_for_successive_slots():
    time = FakeTime()
    waits: list[float] = []

    async def sleep_in_parallel(delay: float) -> None:
        waits.append(delay)  # the clock stands still: every waiter sleeps at the same time
        await asyncio.sleep(0)

    bucket = TokenBucket(2, burst=1, clock=time.clock, sleep=sleep_in_parallel)
    # All four arrive at the same instant; each reserves the next slot before sleeping.
    await asyncio.gather(*(bucket.acquire() for _ in range(4)))
    assert waits == pytest.approx([0.5, 1.0, 1.5])


async def test_an_idle_bucket_refills_only_up_to_its_burst():
    time = FakeTime()
    bucket = TokenBucket(2, burst=2, clock=time.clock, sleep=time.sleep)
    time.now += 60  # a quiet minute earns no more than the burst
    for _ in range(3):
        await bucket.acquire()
    assert time.sleeps == pytest.approx([0.5])


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


class FlakyAdapter:
    name = "flaky"
    key_retention = timedelta(hours=24)

    def __init__(self, outcomes: list) -> None:
        self.outcomes = outcomes
        self.calls = 0

    async def create_order(self, req: VendorOrderRequest):
        self.calls += 1
        return self.outcomes.pop(0)


class Journal:
    async def before_attempt(self, attempt: int) -> None:
        return None

    async def after_attempt(self, attempt: int, outcome) -> None:
        return None


async def test_every_vendor_attempt_retries_included_takes_a_token_first():
    time = FakeTime()
    taken: list[float] = []
    bucket = TokenBucket(1, burst=1, clock=time.clock, sleep=time.sleep)
    original = bucket.acquire

    async def counting_acquire() -> None:
        await original()
        taken.append(time.now)

    bucket.acquire = counting_acquire  # type: ignore[method-assign]
    adapter = FlakyAdapter([Unknown("server_error", "503"), Fulfilled("vo_1", "fulfilled")])
    client = VendorClient(
        adapter,
        breaker=CircuitBreaker(),
        sleep=time.sleep,
        rng=random.Random(1),
        limiter=bucket,
    )
    outcome = await client.submit(REQ, Journal())
    assert isinstance(outcome, Fulfilled) and adapter.calls == 2
    assert len(taken) == 2 and taken[1] - taken[0] >= 1.0  # the retry waited for its token


def test_a_vendors_file_may_set_a_rate_limit_which_must_be_positive():
    raw = '[vendors.acme]\nbase_url = "http://acme.test"\nrate_limit_per_s = 25.0\n'
    vendors = msgspec.convert(tomllib.loads(raw), VendorsFile).vendors
    assert vendors["acme"].rate_limit_per_s == 25.0
    assert VendorConfig(base_url="http://x").rate_limit_per_s is None
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"base_url": "http://x", "rate_limit_per_s": 0}, VendorConfig)
