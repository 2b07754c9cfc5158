"""Retrying clients against a vendor that times out after committing and fails with 5xx."""

import asyncio

from ledger.http.keys import POOL
from tests.harness import (
    order_body,
    sandbox,
    sandbox_stats,
    service,
    service_settings,
    wait_until_terminal,
)

KEYS = 200
RETRIES_PER_KEY = 3


async def test_two_hundred_keys_retried_three_times_make_exactly_one_vendor_order_each(
    database_url, tmp_path
):
    faults = "seed=11,timeout_after_commit=0.3,error_5xx=0.1,hang_ms=1500"
    async with sandbox(faults) as (url, _):
        settings = service_settings(url, tmp_path, vendor_attempt_timeout_s=0.4, sync_budget_s=1.0)
        async with service(database_url, settings) as (client, headers):
            keys = [f"chaos-order-{i:04d}" for i in range(KEYS)]

            async def post(key: str) -> int:
                response = await client.post(
                    "/api/v1/orders", json=order_body(key, amount="10.00"), headers=headers
                )
                await response.read()
                return response.status

            statuses = await asyncio.gather(
                *(post(key) for key in keys for _ in range(RETRIES_PER_KEY))
            )
            assert set(statuses) <= {200, 201, 202, 409}, set(statuses)
            done, pending = await wait_until_terminal(client, headers, keys, within_s=120)
            assert pending == [], f"{len(pending)} orders never finished"
            assert {body["status"] for body in done.values()} == {"fulfilled"}
            failures = await client.app[POOL].fetch(
                "SELECT DISTINCT convert_from(data, 'UTF8')::jsonb ->> 'reason' AS reason"
                " FROM events WHERE type = 'VendorCallFailed'"
            )
            # The faults really fired: timeouts after commit are what tempt a double charge.
            assert {"timeout", "server_error"} <= {r["reason"] for r in failures}
            stats = await sandbox_stats(url)
            assert stats["duplicate_references"] == []
            assert stats["orders"] == KEYS
