"""The sandbox vendor over real loopback HTTP, driven by RestVendorAdapter and VendorClient."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from ledger.vendors.base import (
    Accepted,
    Fulfilled,
    Outcome,
    Rejected,
    Unknown,
    VendorOrderRequest,
)
from ledger.vendors.breaker import CircuitBreaker
from ledger.vendors.client import VendorClient
from ledger.vendors.rest import RestVendorAdapter
from ledger.vendors.sandbox.faults import parse_faults
from ledger.vendors.sandbox.server import SandboxConfig, create_sandbox_app

REQ = VendorOrderRequest("ord-2026-0001", 5000, "USD", "amazon-us", "cust-9")
# Long enough for a loopback round trip on a loaded CI box, short enough to keep tests quick.
ATTEMPT_TIMEOUT = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Journal:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.started: list[int] = []

    async def before_attempt(self, attempt: int) -> None:
        self.started.append(attempt)

    async def after_attempt(self, attempt: int, outcome: Outcome) -> None:
        self.outcomes.append(outcome)


class Sandbox:
    def __init__(self, base_url: str, session: aiohttp.ClientSession, timeout: float) -> None:
        self.url = base_url
        self.session = session
        self.adapter = RestVendorAdapter(
            "sandbox", base_url, session, "sk_test", timeout, timedelta(hours=24)
        )

    def client(self) -> VendorClient:
        return VendorClient(
            self.adapter, base_delay=0.01, max_delay=0.05, breaker=CircuitBreaker(),
            rng=random.Random(1),
        )  # fmt: skip

    async def admin(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        async with self.session.request(method, f"{self.url}{path}", json=body) as resp:
            return resp.status, (await resp.json() if resp.status != 204 else None)

    async def stats(self) -> dict[str, object]:
        status, body = await self.admin("GET", "/_admin/stats")
        assert status == 200
        return body  # type: ignore[return-value]


@asynccontextmanager
async def serve(
    config: SandboxConfig | None = None,
    clock: Clock | None = None,
    attempt_timeout: float = ATTEMPT_TIMEOUT,
) -> AsyncIterator[Sandbox]:
    app = create_sandbox_app(config or SandboxConfig(), clock=clock or Clock())
    # A short shutdown so handlers hung by timeout_after_commit do not hold up teardown.
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            yield Sandbox(f"http://127.0.0.1:{port}", session, attempt_timeout)
    finally:
        await runner.cleanup()


async def test_the_same_key_twice_creates_one_order_and_replays_it():
    async with serve() as sandbox:
        first = await sandbox.adapter.create_order(REQ)
        second = await sandbox.adapter.create_order(REQ)
        assert isinstance(first, Fulfilled) and first.card is not None
        assert second == first
        async with sandbox.session.post(
            f"{sandbox.url}/v1/orders",
            json={"reference": REQ.reference, "amount_minor": 5000, "currency": "USD",
                  "brand_id": "amazon-us", "customer_id": "cust-9"},
            headers={"Idempotency-Key": REQ.reference},
        ) as resp:  # fmt: skip
            assert resp.status == 200 and resp.headers["Idempotent-Replayed"] == "true"
        assert await sandbox.stats() == {"orders": 1, "duplicate_references": []}


async def test_the_same_key_with_a_different_body_is_rejected_as_a_mismatch():
    async with serve() as sandbox:
        await sandbox.adapter.create_order(REQ)
        changed = VendorOrderRequest(REQ.reference, 9999, "USD", "amazon-us", "cust-9")
        outcome = await sandbox.adapter.create_order(changed)
        assert isinstance(outcome, Rejected)
        assert (outcome.code, outcome.http_status) == ("idempotency_key_mismatch", 422)
        assert (await sandbox.stats())["orders"] == 1


@pytest.mark.parametrize(
    ("amount", "currency", "brand", "code"),
    [
        (0, "USD", "amazon-us", "invalid_amount"),
        (100, "usd", "amazon-us", "invalid_currency"),
        (100, "USD", "invalid-brand", "brand_not_found"),
    ],
)
async def test_vendor_validation_errors_are_rejections_that_create_nothing(
    amount, currency, brand, code
):
    async with serve() as sandbox:
        req = VendorOrderRequest("ord-invalid-01", amount, currency, brand, "cust-1")
        outcome = await sandbox.client().submit(req, Journal())
        assert isinstance(outcome, Rejected) and outcome.code == code
        assert (await sandbox.stats())["orders"] == 0


async def test_a_timeout_after_commit_is_settled_by_a_retry_with_the_same_key():
    faults = parse_faults("seed=3,timeout_after_commit=1.0,hang_ms=3000")
    async with serve(SandboxConfig(faults), attempt_timeout=0.3) as sandbox:
        journal = Journal()
        outcome = await sandbox.client().submit(REQ, journal)
        assert isinstance(journal.outcomes[0], Unknown)
        assert journal.outcomes[0].reason == "timeout"
        assert isinstance(outcome, Fulfilled) and journal.started == [1, 2]
        assert await sandbox.stats() == {"orders": 1, "duplicate_references": []}


async def test_transaction_pages_cover_every_order_in_the_window_exactly_once():
    clock = Clock()
    async with serve(clock=clock) as sandbox:
        await sandbox.admin("POST", "/_admin/orders", _admin_order("before-window"))
        clock.now += timedelta(microseconds=1)
        start = clock.now
        refs = []
        for i in range(23):
            # Every third order shares its timestamp with the previous one: ties must page by id.
            if i % 3:
                clock.now += timedelta(seconds=1)
            ref = f"ord-page-{i:04d}"
            refs.append(ref)
            await sandbox.adapter.create_order(VendorOrderRequest(ref, 100, "EUR", "b", "c"))
        end = clock.now + timedelta(seconds=1)
        clock.now = end  # created exactly at `to`: outside the half-open window
        await sandbox.admin("POST", "/_admin/orders", _admin_order("at-window-end"))
        seen, cursor, pages = [], None, 0
        while True:
            page = await sandbox.adapter.list_transactions(start, end, cursor, 5)
            seen += [r.reference for r in page.records]
            pages += 1
            if (cursor := page.next_cursor) is None:
                break
        assert sorted(seen) == sorted(refs) and pages == 5
        assert all(r.card is None for r in page.records)  # listings never carry secrets


def _admin_order(reference: str, status: str = "fulfilled") -> dict[str, object]:
    return {"reference": reference, "amount_minor": 700, "currency": "GBP", "status": status}


async def test_admin_routes_create_change_and_lose_vendor_records_silently():
    clock = Clock()
    async with serve(clock=clock) as sandbox:
        status, orphan = await sandbox.admin("POST", "/_admin/orders", _admin_order("orphan-1"))
        assert status == 201
        vendor_id = orphan["id"]  # type: ignore[index]
        await sandbox.adapter.create_order(REQ)
        await sandbox.admin("POST", "/_admin/orders", _admin_order(REQ.reference))
        assert await sandbox.stats() == {"orders": 3, "duplicate_references": [REQ.reference]}

        clock.now += timedelta(minutes=5)
        patch = {"status": "refunded", "amount_minor": 650}
        status, _ = await sandbox.admin("PATCH", f"/_admin/orders/{vendor_id}", patch)
        view = await sandbox.adapter.get_order("orphan-1")
        assert status == 200 and view is not None
        assert (view.status, view.amount_minor, view.updated_at) == ("refunded", 650, clock.now)

        assert (await sandbox.admin("DELETE", f"/_admin/orders/{vendor_id}"))[0] == 204
        assert await sandbox.adapter.get_order("orphan-1") is None
        assert (await sandbox.admin("DELETE", f"/_admin/orders/{vendor_id}"))[0] == 404
        assert (await sandbox.admin("PATCH", "/_admin/orders/vo_nope", patch))[0] == 404


async def test_past_key_retention_a_blind_resubmission_creates_a_duplicate_order():
    clock = Clock()
    config = SandboxConfig(key_retention=timedelta(hours=1))
    async with serve(config, clock) as sandbox:
        first = await sandbox.client().submit(REQ, Journal())
        clock.now += timedelta(hours=1, seconds=1)
        # The danger the ledger avoids: resubmitting without first looking up by reference.
        second = await sandbox.client().submit(REQ, Journal())
        assert isinstance(first, Fulfilled) and isinstance(second, Fulfilled)
        assert first.vendor_order_id != second.vendor_order_id
        assert await sandbox.stats() == {"orders": 2, "duplicate_references": [REQ.reference]}


async def test_past_key_retention_a_lookup_by_reference_still_finds_the_original():
    clock = Clock()
    async with serve(SandboxConfig(key_retention=timedelta(hours=1)), clock) as sandbox:
        first = await sandbox.adapter.create_order(REQ)
        clock.now += timedelta(days=3)
        view = await sandbox.adapter.get_order(REQ.reference)
        assert isinstance(first, Fulfilled) and view is not None
        assert view.vendor_order_id == first.vendor_order_id


async def test_a_fulfilment_delay_keeps_orders_pending_until_the_clock_passes_it():
    clock = Clock()
    async with serve(SandboxConfig(fulfil_delay_ms=5000), clock) as sandbox:
        assert isinstance(await sandbox.adapter.create_order(REQ), Accepted)
        pending = await sandbox.adapter.get_order(REQ.reference)
        assert pending is not None and pending.status == "pending" and pending.card is None
        clock.now += timedelta(seconds=5)
        done = await sandbox.adapter.get_order(REQ.reference)
        assert done is not None and done.status == "fulfilled" and done.card is not None
        assert done.updated_at == pending.created_at + timedelta(seconds=5)


async def test_injected_5xx_and_429_hit_the_vendor_api_but_never_the_admin_routes():
    async with serve(SandboxConfig(parse_faults("seed=1,error_5xx=1.0"))) as sandbox:
        outcome = await sandbox.adapter.create_order(REQ)
        assert isinstance(outcome, Unknown) and outcome.http_status == 503
        assert (await sandbox.stats())["orders"] == 0
    async with serve(SandboxConfig(parse_faults("seed=1,rate_429=1.0"))) as sandbox:
        outcome = await sandbox.adapter.create_order(REQ)
        assert outcome == Unknown("rate_limited", "rate_limited", 429, 1.0)


async def test_a_configured_api_key_is_required_on_the_vendor_api():
    async with serve(SandboxConfig(api_key="sk_other")) as sandbox:
        outcome = await sandbox.adapter.create_order(REQ)
        assert isinstance(outcome, Rejected) and outcome.http_status == 401
    async with serve(SandboxConfig(api_key="sk_test")) as sandbox:
        assert isinstance(await sandbox.adapter.create_order(REQ), Fulfilled)


async def test_an_order_is_readable_by_id_and_an_unknown_id_is_404():
    async with serve() as sandbox:
        created = await sandbox.adapter.create_order(REQ)
        assert isinstance(created, Fulfilled)
        async with sandbox.session.get(
            f"{sandbox.url}/v1/orders/{created.vendor_order_id}"
        ) as resp:
            assert resp.status == 200 and (await resp.json())["reference"] == REQ.reference
        async with sandbox.session.get(f"{sandbox.url}/v1/orders/vo_missing") as resp:
            assert resp.status == 404


async def test_under_the_design_fault_mix_retries_never_create_a_duplicate_order():
    faults = parse_faults(
        "seed=7,latency_ms=5,error_5xx=0.1,rate_429=0.05,timeout_after_commit=0.3,hang_ms=1000"
    )
    async with serve(SandboxConfig(faults), attempt_timeout=0.25) as sandbox:
        client = VendorClient(
            sandbox.adapter, max_attempts=6, base_delay=0.01, max_delay=0.05,
            breaker=CircuitBreaker(minimum_calls=50), rng=random.Random(7),
        )  # fmt: skip
        requests = [
            VendorOrderRequest(f"ord-chaos-{i:03d}", 100, "USD", "b", "c") for i in range(30)
        ]
        outcomes = [await client.submit(req, Journal()) for req in requests]
        fulfilled = sum(isinstance(o, Fulfilled) for o in outcomes)
        stats = await sandbox.stats()
        assert stats["duplicate_references"] == []
        assert fulfilled <= stats["orders"] <= len(requests)  # type: ignore[operator]
        assert fulfilled >= 20  # the faults are real but retries ride most of them out
