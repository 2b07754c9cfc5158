"""No order left behind (issue 11's findings 1 to 4, over HTTP against the sandbox): a card
fetched by a lookup is shown, lookups back off and never starve due orders, a webhook hint
survives a failed confirmation and a restart, and a 401 after a timeout fails no order."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import aiohttp

from ledger.http.keys import INTAKE, POOL
from ledger.orders.decisions import vendor_reference
from ledger.orders.model import order_stream
from tests.factories import submit_order
from tests.harness import (
    order_body,
    sandbox,
    service,
    service_settings,
    signed,
    switchable,
    wait_until_terminal,
    webhook,
)

# Past the old completer's SCAN_LIMIT of 1,000, which such orders used to fill for good.
STUCK = 1_050


async def trail(client, headers, key: str) -> list[dict]:
    response = await client.get(f"/api/v1/orders/{key}/events", headers=headers)
    return (await response.json())["events"]


async def test_an_order_the_vendor_fulfils_later_shows_its_card_once_looked_up(
    database_url, tmp_path
):
    async with (
        sandbox(fulfil_delay_ms=300) as (url, _),
        service(database_url, service_settings(url, tmp_path)) as (client, headers),
    ):
        created = await client.post(
            "/api/v1/orders", json=order_body("late-card-001"), headers=headers
        )
        assert (await created.json())["status"] == "pending"
        done, pending = await wait_until_terminal(client, headers, ["late-card-001"], 10)
        assert pending == []
        order = done["late-card-001"]
        assert order["status"] == "fulfilled"
        assert order["card"] is not None and order["card"]["code"]
        types = [e["type"] for e in await trail(client, headers, "late-card-001")]
        assert "VendorStatusObserved" in types and "OrderFulfilled" in types


async def test_a_vendor_that_keeps_an_order_pending_is_asked_less_and_less_often(
    database_url, tmp_path
):
    async with sandbox(fulfil_delay_ms=600_000) as (url, _):
        settings = service_settings(url, tmp_path, completer_backoff_s=0.1)
        async with service(database_url, settings) as (client, headers):
            await client.post("/api/v1/orders", json=order_body("slow-vendor-01"), headers=headers)
            await asyncio.sleep(4.0)
            events = await trail(client, headers, "slow-vendor-01")
    lookups = [e for e in events if e["type"] == "VendorStatusObserved"]
    schedule = [e["data"] for e in events if e["type"] == "RetryScheduled"]
    # 0.1 s doubling: at most 0.1 + 0.2 + ... reaches 4 s after about six retries. A lookup
    # that did not move the schedule (the finding) was repeated every 50 ms poll: ~80 times.
    assert 2 <= len(lookups) <= 8, len(lookups)
    gaps = [
        (datetime.fromisoformat(s["due_at"]) - datetime.fromisoformat(s["scheduled_at"]))
        for s in schedule
    ]
    # Each gap at least half the one before (equal jitter), and the last far past the first.
    assert all(b >= a / 2 for a, b in itertools.pairwise(gaps))
    assert gaps[-1] > gaps[0] * 4


async def test_orders_stuck_on_a_vendor_that_is_gone_never_starve_the_orders_behind_them(
    database_url, tmp_path
):
    async with (
        sandbox() as (url, _),
        service(database_url, service_settings(url, tmp_path)) as (client, headers),
    ):
        intake = client.app[INTAKE]
        # More stuck orders than any scan fetches at once, all due before the others.
        for i in range(STUCK):
            key = f"gone-vendor-{i:04d}"
            stuck = submit_order(idempotency_key=key, vendor="gone", source="bulk")
            await intake.submit(stuck, {}, drive=False)
        keys = [f"behind-them-{i:03d}" for i in range(5)]
        for key in keys:
            await intake.submit(submit_order(idempotency_key=key, source="bulk"), {}, drive=False)
        done, pending = await wait_until_terminal(client, headers, keys, within_s=15)
        assert pending == [] and {o["status"] for o in done.values()} == {"fulfilled"}
        reasons = await client.app[POOL].fetch(
            "SELECT DISTINCT convert_from(data, 'UTF8')::jsonb ->> 'reason' AS reason"
            " FROM events WHERE type = 'RetryScheduled' AND stream_id LIKE 'order:acme:gone-%'"
        )
        assert [r["reason"] for r in reasons] == ["vendor_not_configured"]


async def test_a_refund_hint_whose_lookup_fails_is_kept_and_acted_on_after_a_restart(
    database_url, tmp_path
):
    key = "refund-later-01"
    async with sandbox() as (vendor_url, _), switchable(vendor_url) as (url, switch):
        settings = service_settings(url, tmp_path, completer_backoff_s=0.2)
        async with service(database_url, settings) as (client, headers):
            created = await client.post("/api/v1/orders", json=order_body(key), headers=headers)
            order = await created.json()
            assert order["status"] == "fulfilled"
            reference = vendor_reference(order_stream("acme", key))
            async with aiohttp.ClientSession() as session:
                patch = {"status": "refunded"}
                vendor_order = f"{vendor_url}/_admin/orders/{order['vendor_order_id']}"
                async with session.patch(vendor_order, json=patch) as changed:
                    assert changed.status == 200
            switch.down = True
            body = webhook(reference, "refunded", "evt_refund_1")
            hooked = await client.post(
                "/webhooks/sandbox", data=body, headers=signed(body, "evt_refund_1")
            )
            assert hooked.status == 200
            for _ in range(100):
                if switch.refused >= 2:
                    break
                await asyncio.sleep(0.05)
            assert switch.refused >= 2, "the hint was not retried while the vendor was down"
            row = await client.app[POOL].fetchrow(
                "SELECT status, hint_pending, next_attempt_at FROM orders_view"
                " WHERE idempotency_key = $1",
                key,
            )
            assert row["status"] == "fulfilled" and row["hint_pending"]
            assert row["next_attempt_at"] is not None
        # The service stops while the vendor is down; the hint is in the log, not in memory.
        switch.down = False
        async with service(database_url, settings) as (client, headers):
            for _ in range(100):
                got = await (await client.get(f"/api/v1/orders/{key}", headers=headers)).json()
                if got["status"] == "refunded":
                    break
                await asyncio.sleep(0.1)
            assert got["status"] == "refunded"
            assert datetime.fromisoformat(got["updated_at"]) <= datetime.now(UTC)


async def test_a_401_after_a_timed_out_attempt_leaves_the_order_to_a_lookup_not_failed(
    database_url, tmp_path
):
    key = "timeout-then-401"
    async with sandbox() as (vendor_url, _), switchable(vendor_url) as (url, switch):
        settings = service_settings(
            url, tmp_path, vendor_attempt_timeout_s=0.3, sync_budget_s=2.0, completer_backoff_s=0.2
        )
        async with service(database_url, settings) as (client, headers):
            switch.hang_s = 1.0  # the vendor takes the order; its answer never arrives in time
            intake = client.app[INTAKE]
            await intake.submit(submit_order(idempotency_key=key, source="bulk"), {}, drive=False)
            for _ in range(100):
                if any(e["type"] == "VendorCallFailed" for e in await trail(client, headers, key)):
                    break
                await asyncio.sleep(0.05)
            switch.hang_s, switch.down, switch.down_status = 0.0, True, 401
            await asyncio.sleep(1.0)
            during = await (await client.get(f"/api/v1/orders/{key}", headers=headers)).json()
            assert switch.refused >= 1 and during["status"] == "pending"
            switch.down = False
            done, pending = await wait_until_terminal(client, headers, [key], within_s=10)
            assert pending == [] and done[key]["status"] == "fulfilled"
            failures = {
                e["data"]["reason"]
                for e in await trail(client, headers, key)
                if e["type"] == "VendorCallFailed"
            }
            assert "timeout" in failures
