"""Reconciliation runs against the sandbox vendor over loopback, recorded in PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg

from ledger.log import events as ev
from ledger.log import store
from ledger.orders.decisions import vendor_reference
from ledger.orders.model import fold, order_stream
from ledger.reconciliation.runs import run_reconciliation
from ledger.vendors.client import VendorClient
from ledger.vendors.registry import build_clients
from ledger.vendors.vendors_file import VendorConfig
from tests.harness import sandbox


def utcnow() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def vendor(
    faults: str = "",
) -> AsyncIterator[tuple[str, VendorClient, aiohttp.ClientSession]]:
    """The sandbox on loopback and a client for it, built as the service builds its own."""
    async with sandbox(faults) as (url, _), aiohttp.ClientSession() as session:
        config = VendorConfig(base_url=url, attempt_timeout_s=2.0)
        client = build_clients({"sandbox": config}, session, random.Random(1))["sandbox"]
        yield url, client, session


async def vendor_order(session, url: str, reference: str, status="fulfilled", **fields) -> dict:
    body = {"reference": reference, "amount_minor": 2500, "currency": "USD", "status": status}
    async with session.post(f"{url}/_admin/orders", json=body | fields) as response:
        assert response.status == 201
        return await response.json()


async def our_order(pool: asyncpg.Pool, key: str, amount_minor: int = 2500) -> tuple[str, str]:
    """A pending order in our log, indexed by reference as intake indexes it: (stream, ref)."""
    stream_id = order_stream("acme", key)
    reference = vendor_reference(stream_id)
    requested = ev.OrderRequested(
        client_id="acme",
        idempotency_key=key,
        customer_id="c",
        brand_id="b",
        amount_minor=amount_minor,
        currency="USD",
        fingerprint="f",
        vendor="sandbox",
        vendor_reference=reference,
        requested_at=utcnow(),
    )
    async with pool.acquire() as conn, conn.transaction():
        await store.append(conn, stream_id, [requested], 0)
        await conn.execute(
            "INSERT INTO order_references (vendor, vendor_reference, stream_id) VALUES ($1,$2,$3)",
            "sandbox",
            reference,
            stream_id,
        )
    return stream_id, reference


# One window for the whole module, so repeated runs under one run id ask for the same window;
# sandbox records are stamped with the real clock, well inside it.
WINDOW = (utcnow() - timedelta(hours=6), utcnow() + timedelta(hours=6))


async def reconcile(pool, client, run_id: str, delays: list[float] | None = None, **options):
    async def sleep(delay: float) -> None:
        if delays is not None:
            delays.append(delay)

    start, end = WINDOW
    return await run_reconciliation(
        pool,
        client,
        run_id=run_id,
        window_start=start,
        window_end=end,
        clock=utcnow,
        sleep=sleep,
        **options,
    )


async def observations(pool, run_id: str) -> list[tuple[str, str]]:
    """(stream, vendor_order_id) of every VendorRecordObserved the run appended."""
    rows = await pool.fetch(
        "SELECT stream_id, convert_from(data, 'UTF8')::jsonb ->> 'vendor_order_id' AS vo"
        " FROM events WHERE type = 'VendorRecordObserved'"
        " AND convert_from(data, 'UTF8')::jsonb ->> 'run_id' = $1 ORDER BY position",
        run_id,
    )
    return [(r["stream_id"], r["vo"]) for r in rows]


async def run_types(pool, run_id: str) -> list[str]:
    return [e.type for e in await store.read_stream(pool, f"reconciliation:{run_id}")]


async def seed(pool, session, url, known: int, unknown: int) -> dict[str, str]:
    """Vendor records for `known` of our orders and `unknown` strangers: {vendor id: stream}."""
    expected = {}
    for i in range(known):
        stream_id, reference = await our_order(pool, f"order-{i:04d}")
        expected[(await vendor_order(session, url, reference))["id"]] = stream_id
    for i in range(unknown):
        order = await vendor_order(session, url, f"not-ours-{i}")
        expected[order["id"]] = "unmatched"
    return expected


async def test_every_vendor_record_is_observed_exactly_once_across_pages(pool):
    async with vendor() as (url, client, session):
        expected = await seed(pool, session, url, known=7, unknown=5)
        summary = await reconcile(pool, client, "run-1", page_size=5)
    seen = await observations(pool, "run-1")
    assert sorted(vo for _, vo in seen) == sorted(expected)
    assert (summary.records_seen, summary.pages, summary.unmatched) == (12, 3, 5)
    pages = [e.decode() for e in await store.read_stream(pool, "reconciliation:run-1")]
    recorded = [p for p in pages if isinstance(p, ev.ReconciliationPageRecorded)]
    assert [(p.page, p.records) for p in recorded] == [(1, 5), (2, 5), (3, 2)]
    assert recorded[-1].next_cursor is None and isinstance(pages[-1], ev.ReconciliationCompleted)


async def test_unknown_references_are_observed_on_the_run_stream_and_known_ones_on_their_order(
    pool,
):
    async with vendor() as (url, client, session):
        expected = await seed(pool, session, url, known=3, unknown=2)
        await reconcile(pool, client, "run-1")
    for stream_id, vendor_order_id in await observations(pool, "run-1"):
        want = expected[vendor_order_id]
        assert stream_id == ("reconciliation:run-1" if want == "unmatched" else want)


async def test_the_vendor_finishing_a_pending_order_heals_it_with_source_reconciliation(pool):
    async with vendor() as (url, client, session):
        healed, reference = await our_order(pool, "heal-me")
        await vendor_order(session, url, reference, "fulfilled")
        odd, odd_reference = await our_order(pool, "other-amount")
        await vendor_order(session, url, odd_reference, "fulfilled", amount_minor=9900)
        await reconcile(pool, client, "run-1")
    trail = [e.decode() for e in await store.read_stream(pool, healed)]
    assert [type(e).__name__ for e in trail][-2:] == ["VendorRecordObserved", "OrderFulfilled"]
    assert trail[-1].source == "reconciliation"
    assert fold(await store.read_stream(pool, healed)).status == "fulfilled"
    # A record that disagrees on the amount is a discrepancy for a person, not a correction.
    assert fold(await store.read_stream(pool, odd)).status == "pending"


async def test_a_second_run_of_the_same_window_adds_observations_and_nothing_else(pool):
    async with vendor() as (url, client, session):
        expected = await seed(pool, session, url, known=4, unknown=1)
        await reconcile(pool, client, "run-1", page_size=2)
        before = await pool.fetchval("SELECT count(*) FROM events")
        first_run = await run_types(pool, "run-1")
        await reconcile(pool, client, "run-2", page_size=2)
    added = await pool.fetch(
        "SELECT stream_id, type FROM events ORDER BY position OFFSET $1", before
    )
    order_events = {r["type"] for r in added if r["stream_id"].startswith("order:")}
    assert order_events == {"VendorRecordObserved"}  # the first run already healed every order
    assert sorted(vo for _, vo in await observations(pool, "run-2")) == sorted(expected)
    assert await run_types(pool, "run-1") == first_run


async def test_a_completed_run_returns_its_summary_and_appends_nothing(pool):
    async with vendor() as (url, client, session):
        await seed(pool, session, url, known=2, unknown=1)
        first = await reconcile(pool, client, "run-1")
        count = await pool.fetchval("SELECT count(*) FROM events")
        again = await reconcile(pool, client, "run-1")
    assert await pool.fetchval("SELECT count(*) FROM events") == count
    assert again.already_completed and not first.already_completed
    assert (again.records_seen, again.unmatched) == (first.records_seen, first.unmatched) == (3, 1)
