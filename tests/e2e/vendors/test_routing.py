"""Routing between two vendors over real HTTP: when the first's breaker opens, new orders of
the brand go to the second; an order already attempted at the first never goes to the second,
and completes at the first once it is back (issue 14)."""

from __future__ import annotations

import asyncio

from ledger.http.keys import VENDORS
from ledger.orders.decisions import vendor_reference
from ledger.orders.model import order_stream
from ledger.vendors.sandbox.server import SANDBOX_STORE
from tests.harness import (
    order_body,
    sandbox,
    service,
    service_settings,
    switchable,
    wait_until_terminal,
)


def vendors_toml(first: str, second: str) -> str:
    # The breaker opens after two unhealthy calls in a row and probes again after 1 s, so the
    # test sees it open and close without waiting out production's 30 s.
    breaker = "breaker_minimum_calls = 2\nbreaker_failure_rate = 0.5\nbreaker_reset_s = 1.0\n"
    return f"""
[vendors.first]
base_url = "{first}"
max_attempts = 2
{breaker}
[vendors.second]
base_url = "{second}"
{breaker}
[routing]
default = "first"

[routing.brands]
amazon-us = ["first", "second"]
"""


async def test_an_open_breaker_routes_new_orders_on_but_never_moves_an_attempted_one(
    database_url, tmp_path
):
    async with (
        sandbox() as (first_upstream, first_server),
        switchable(first_upstream) as (first_url, first),
        sandbox() as (second_url, second_server),
    ):
        vendors = tmp_path / "vendors.toml"
        vendors.write_text(vendors_toml(first_url, second_url))
        settings = service_settings(
            "", tmp_path, vendors_file=vendors, default_vendor="first", completer_backoff_s=0.2
        )
        async with service(database_url, settings) as (client, headers):
            first.down = True
            stuck = await client.post(
                "/api/v1/orders", json=order_body("stuck-order-1"), headers=headers
            )
            assert (await stuck.json())["status"] == "pending"
            assert first.refused >= 2
            breaker = client.app[VENDORS]["first"].breaker
            assert breaker.state == "open"

            moved = await client.post(
                "/api/v1/orders", json=order_body("moved-order-1"), headers=headers
            )
            assert (await moved.json())["status"] == "fulfilled"
            again = await client.post(
                "/api/v1/orders", json=order_body("stuck-order-1"), headers=headers
            )
            assert (await again.json())["status"] == "pending", "a replay stays where it was"

            first.down = False
            settled, pending = await wait_until_terminal(
                client, headers, ["stuck-order-1"], within_s=30
            )
            assert pending == [] and settled["stuck-order-1"]["status"] == "fulfilled"
            await asyncio.sleep(0.3)  # room for a wrong attempt at the second to show

    stuck_ref = vendor_reference(order_stream("acme", "stuck-order-1"))
    moved_ref = vendor_reference(order_stream("acme", "moved-order-1"))
    first_store, second_store = first_server.app[SANDBOX_STORE], second_server.app[SANDBOX_STORE]
    assert [o.reference for o in first_store.by_reference(stuck_ref)] == [stuck_ref]
    assert second_store.by_reference(stuck_ref) == [], "the attempted order never moved"
    assert [o.reference for o in second_store.by_reference(moved_ref)] == [moved_ref]
    assert first_store.by_reference(moved_ref) == []
