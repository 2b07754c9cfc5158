"""Runs that meet trouble: vendor errors are retried with backoff, stopped runs resume."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ledger.log import events as ev
from ledger.log import store
from ledger.reconciliation.runs import PageUnavailable
from ledger.vendors.base import VendorUnavailable
from ledger.vendors.breaker import CircuitBreaker
from ledger.vendors.client import VendorClient
from tests.integration.reconciliation.test_runs import (
    observations,
    reconcile,
    run_types,
    seed,
    vendor,
)


class Crash(Exception):
    """The process dies: not a vendor error, so nothing retries it."""


class Unreliable:
    """Wraps a real adapter: fails `failures` listings (VendorUnavailable), or crashes after
    `pages_before_crash` successful pages."""

    def __init__(self, inner, *, failures: int = 0, pages_before_crash: int | None = None):
        self.inner, self.failures, self.crash_after = inner, failures, pages_before_crash
        self.name, self.key_retention = inner.name, inner.key_retention
        self.calls = 0

    async def list_transactions(self, start, end, cursor, limit):
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise VendorUnavailable("http_503", "service_unavailable", http_status=503)
        if self.crash_after is not None:
            if self.crash_after == 0:
                raise Crash("killed mid-run")
            self.crash_after -= 1
        return await self.inner.list_transactions(start, end, cursor, limit)


def wrap(client: VendorClient, adapter: Unreliable) -> VendorClient:
    return VendorClient(adapter, breaker=CircuitBreaker(), rng=random.Random(0))


def assert_each_once(seen: list[tuple[str, str]], expected: dict[str, str]) -> None:
    counts = Counter(vo for _, vo in seen)
    assert set(counts) == set(expected) and set(counts.values()) == {1}


async def test_vendor_5xx_answers_mid_run_are_retried_with_backoff(pool):
    delays: list[float] = []
    async with vendor("seed=5,error_5xx=0.3") as (url, client, session):
        expected = await seed(pool, session, url, known=6, unknown=6)
        summary = await reconcile(pool, client, "run-1", delays, page_size=2)
    assert delays and delays[0] == 1.0  # at least one page failed and was retried
    assert summary.records_seen == 12 and summary.pages == 6
    assert_each_once(await observations(pool, "run-1"), expected)


async def test_a_vendor_down_past_the_retries_stops_the_run_resumably(pool):
    delays: list[float] = []
    async with vendor() as (url, client, session):
        expected = await seed(pool, session, url, known=3, unknown=1)
        flaky = Unreliable(client.adapter, failures=100)
        with pytest.raises(PageUnavailable) as stopped:
            await reconcile(pool, wrap(client, flaky), "run-1", delays, page_retries=3)
        assert stopped.value.page == 1 and flaky.calls == 4
        assert delays == [1.0, 2.0, 4.0]
        assert await run_types(pool, "run-1") == ["ReconciliationStarted"]
        flaky.failures = 0
        summary = await reconcile(pool, wrap(client, flaky), "run-1")
    assert summary.records_seen == 4
    assert_each_once(await observations(pool, "run-1"), expected)


async def test_an_interrupted_run_resumes_after_its_last_page_without_repeating_one(pool):
    async with vendor() as (url, client, session):
        expected = await seed(pool, session, url, known=5, unknown=4)
        crashing = Unreliable(client.adapter, pages_before_crash=2)
        with pytest.raises(Crash):
            await reconcile(pool, wrap(client, crashing), "run-1", page_size=2)
        assert len(await observations(pool, "run-1")) == 4
        summary = await reconcile(pool, client, "run-1", page_size=2)
    types = await run_types(pool, "run-1")
    assert types.count("ReconciliationStarted") == types.count("ReconciliationCompleted") == 1
    recorded = [e.decode() for e in await store.read_stream(pool, "reconciliation:run-1")]
    pages = [e.page for e in recorded if isinstance(e, ev.ReconciliationPageRecorded)]
    assert pages == [1, 2, 3, 4, 5] and summary.pages == 5 and summary.records_seen == 9
    assert_each_once(await observations(pool, "run-1"), expected)
