"""A vendor record changed after its creation day is listed by the run of the day it changed:
a refund three days after the sale reaches our log (issue 12, finding 4)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import aiohttp

from ledger.log import store
from ledger.orders.model import fold
from ledger.reconciliation.runs import run_reconciliation
from ledger.vendors.registry import build_clients
from ledger.vendors.vendors_file import VendorConfig
from tests.harness import sandbox
from tests.integration.reconciliation.test_runs import observations, our_order, vendor_order

SALE_DAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
REFUND_DAY = SALE_DAY + timedelta(days=3)


async def run_day(pool, client, run_id: str, day: datetime):
    """The run of the day around `day`, at the time `day` (the vendor's clock agrees)."""
    half = timedelta(hours=12)
    return await run_reconciliation(
        pool,
        client,
        run_id=run_id,
        window_start=day - half,
        window_end=day + half,
        clock=lambda: day,
    )


async def test_a_refund_days_after_the_sale_is_seen_by_the_run_of_the_refund_day(pool):
    now = [SALE_DAY]
    stream_id, reference = await our_order(pool, "refunded-later")
    async with (
        sandbox(clock=lambda: now[0]) as (url, _),
        aiohttp.ClientSession() as session,
    ):
        client = build_clients(
            {"sandbox": VendorConfig(base_url=url, attempt_timeout_s=2.0)},
            session,
            random.Random(1),
        )["sandbox"]
        sold = await vendor_order(session, url, reference)
        sale_run = await run_day(pool, client, "day-of-sale", SALE_DAY)
        now[0] = REFUND_DAY
        patch = {"status": "refunded"}
        async with session.patch(f"{url}/_admin/orders/{sold['id']}", json=patch) as response:
            assert response.status == 200
        refund_run = await run_day(pool, client, "day-of-refund", REFUND_DAY)
    assert sale_run.records_seen == 1
    assert refund_run.records_seen == 1
    assert await observations(pool, "day-of-refund") == [(stream_id, sold["id"])]
    state = fold(await store.read_stream(pool, stream_id))
    assert state is not None and state.status == "refunded"
