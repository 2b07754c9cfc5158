"""The vendor is listed from a little before a window's start: an order we stamped just after
the start may be stamped just before it by a vendor whose clock is behind ours, and a run that
did not list it would report it missing (the end has MISSING_GRACE the other way)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ledger.reconciliation.runs import run_reconciliation
from tests.integration.reconciliation.test_runs import observations, utcnow, vendor, vendor_order


async def test_a_record_the_vendor_stamped_just_before_the_window_is_listed(pool):
    async with vendor() as (url, client, session):
        early = await vendor_order(session, url, "stamped-early")
        await asyncio.sleep(0.05)  # the window starts after the vendor's stamp
        start = utcnow()
        await run_reconciliation(
            pool,
            client,
            run_id="edge",
            window_start=start,
            window_end=start + timedelta(hours=1),
            clock=utcnow,
        )
    assert ("reconciliation:edge", early["id"]) in await observations(pool, "edge")
