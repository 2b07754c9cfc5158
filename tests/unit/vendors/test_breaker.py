"""The circuit breaker measures the vendor: a failure rate over a window, not a run of bad luck."""

from __future__ import annotations

import random

import pytest

from ledger.vendors.base import Accepted, Unknown
from ledger.vendors.breaker import CircuitBreaker
from tests.unit.vendors.rest_doubles import Clock

TIMEOUT = Unknown("timeout", "no reply")
SERVER_ERROR = Unknown("server_error", "http_503", 503)
RATE_LIMITED = Unknown("rate_limited", "slow down", 429, 1.0)
ANSWER = Accepted("vo_1", "pending")


def fault_mix(calls: int, seed: int = 11) -> list[Unknown | Accepted]:
    """The README's fault mix as the breaker sees it: 30% hung, 10% 5xx, 5% 429."""
    rng = random.Random(seed)
    outcomes: list[Unknown | Accepted] = []
    for _ in range(calls):
        roll = rng.random()
        outcomes.append(
            TIMEOUT
            if roll < 0.3
            else SERVER_ERROR
            if roll < 0.4
            else RATE_LIMITED
            if roll < 0.45
            else ANSWER
        )
    return outcomes


def test_the_fault_mix_gives_runs_of_five_failures_that_opened_the_old_breaker():
    """The cause of the 30 s gaps: five unhealthy answers in a row are routine at 40% faults."""
    run = runs = 0
    for outcome in fault_mix(2000):
        run = run + 1 if outcome in (TIMEOUT, SERVER_ERROR) else 0
        runs += run == 5
    assert runs >= 10


def test_the_fault_mix_never_opens_the_breaker():
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    for outcome in fault_mix(2000):
        assert breaker.allow()
        breaker.record(outcome)
        clock.now += 0.05
    assert breaker.state == "closed"


def test_a_dead_vendor_opens_it_once_the_window_holds_enough_calls():
    clock = Clock()
    breaker = CircuitBreaker(minimum_calls=20, clock=clock)
    for _ in range(19):
        breaker.record(TIMEOUT)
        clock.now += 0.1
    assert breaker.state == "closed"
    breaker.record(TIMEOUT)
    assert breaker.state == "open" and not breaker.allow()


def test_rate_limits_say_nothing_about_health():
    breaker = CircuitBreaker(minimum_calls=5, clock=Clock())
    for _ in range(50):
        breaker.record(RATE_LIMITED)
    assert breaker.state == "closed"
    breaker.record(Unknown("unexpected_reply", "401 after a timeout", 401))
    assert breaker.state == "closed"


def test_failures_older_than_the_window_are_forgotten():
    clock = Clock()
    breaker = CircuitBreaker(minimum_calls=4, failure_rate=0.5, window_s=10.0, clock=clock)
    for _ in range(3):
        breaker.record(TIMEOUT)
    clock.now += 11.0
    breaker.record(ANSWER)
    breaker.record(TIMEOUT)  # 1 of 2 in the window: under the minimum
    assert breaker.state == "closed"


def open_breaker(clock: Clock, probes: int = 3) -> CircuitBreaker:
    breaker = CircuitBreaker(minimum_calls=1, open_for_s=15.0, probes=probes, clock=clock)
    breaker.record(TIMEOUT)
    assert breaker.state == "open"
    return breaker


def test_it_says_how_long_it_stays_open():
    clock = Clock()
    breaker = open_breaker(clock)
    clock.now += 5.0
    assert breaker.retry_in() == pytest.approx(10.0)
    clock.now += 10.0
    assert breaker.state == "half_open" and breaker.retry_in() == 0.0


def test_half_open_lets_a_few_probes_through_and_closes_when_all_pass():
    clock = Clock()
    breaker = open_breaker(clock)
    clock.now += 15.0
    assert [breaker.allow() for _ in range(4)] == [True, True, True, False]
    for _ in range(3):
        breaker.record(ANSWER)
    assert breaker.state == "closed" and breaker.allow()


def test_a_failed_probe_opens_it_for_another_full_period():
    clock = Clock()
    breaker = open_breaker(clock)
    clock.now += 15.0
    assert breaker.allow() and breaker.allow()
    breaker.record(ANSWER)
    breaker.record(SERVER_ERROR)
    assert breaker.state == "open" and breaker.retry_in() == pytest.approx(15.0)


def test_a_probe_that_learns_nothing_lets_another_go():
    clock = Clock()
    breaker = open_breaker(clock, probes=1)
    clock.now += 15.0
    assert breaker.allow() and not breaker.allow()
    breaker.record(RATE_LIMITED)
    assert breaker.allow()
