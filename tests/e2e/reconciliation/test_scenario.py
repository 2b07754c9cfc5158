"""Every kind of problem injected at the sandbox vendor, found by one run, stable on re-runs."""

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp

from ledger.auth import create_key
from ledger.http.keys import POOL, PROJECTIONS
from projections.rebuild import rebuild
from tests.harness import order_body, sandbox, service, service_settings


async def vendor(session, method: str, url: str, body: dict | None = None) -> dict:
    async with session.request(method, url, json=body) as response:
        assert response.status < 300, await response.text()
        return await response.json() if response.status != 204 else {}


async def run_and_wait(client, admin: dict, start: datetime, end: datetime) -> dict:
    body = {"from": start.isoformat(), "to": end.isoformat()}
    started = await client.post("/api/v1/reconciliations", json=body, headers=admin)
    assert started.status == 202, await started.text()
    run_id = (await started.json())["run_id"]
    for _ in range(200):
        response = await client.get(f"/api/v1/reconciliations/{run_id}", headers=admin)
        if response.status == 200 and (run := await response.json())["status"] == "completed":
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not complete")


async def discrepancy_list(client, admin: dict) -> list[tuple]:
    body = await (await client.get("/api/v1/discrepancies", headers=admin)).json()
    return sorted((d["type"], d["reference"], d["state"]) for d in body["items"])


async def test_each_injected_problem_becomes_exactly_one_discrepancy(
    database_url, tmp_path, unused_tcp_port
):
    hook = f"http://127.0.0.1:{unused_tcp_port}/webhooks/sandbox"
    # Orders stay pending at the vendor; the completer stays away, so only reconciliation acts.
    async with sandbox(webhook_url=hook, fulfil_delay_ms=3_600_000) as (url, _):
        settings = service_settings(url, tmp_path, sync_budget_s=0.5, completer_backoff_s=600.0)
        async with service(database_url, settings, port=unused_tcp_port) as (client, headers):
            pool = client.app[POOL]
            async with pool.acquire() as conn:
                _, key = await create_key(conn, name="ops", scopes=["admin"])
            admin = {"Authorization": f"Bearer {key}"}
            keys = ["never-got-1", "duplicated-1", "wrong-amount-1", "missed-hook-1", "fine-one-1"]
            for key_ in keys:
                response = await client.post(
                    "/api/v1/orders", json=order_body(key_), headers=headers
                )
                assert response.status == 202
            refs = {
                r["stream_id"].split(":")[-1]: (r["vendor_reference"], r["stream_id"])
                for r in await pool.fetch("SELECT * FROM order_references")
            }
            # The vendor announces each creation; let those hints be confirmed first, or a late
            # lookup would see the silent change below and heal it before reconciliation can.
            for _ in range(200):
                hinted = await pool.fetchval(
                    "SELECT count(*) FILTER (WHERE type = 'WebhookReceived')"
                    " - count(*) FILTER (WHERE type = 'VendorStatusObserved') FROM events"
                )
                announced = await pool.fetchval(
                    "SELECT count(*) FROM events WHERE type = 'WebhookReceived'"
                )
                if announced >= len(keys) and hinted <= 0:
                    break
                await asyncio.sleep(0.05)
            async with aiohttp.ClientSession() as session:
                found = {}
                for key_ in keys:
                    orders = await vendor(
                        session, "GET", f"{url}/v1/orders?reference={refs[key_][0]}"
                    )
                    found[key_] = orders[0]["id"]
                await vendor(session, "DELETE", f"{url}/_admin/orders/{found['never-got-1']}")
                await vendor(
                    session,
                    "POST",
                    f"{url}/_admin/orders",
                    {
                        "reference": refs["duplicated-1"][0],
                        "amount_minor": 2500,
                        "currency": "USD",
                        "status": "pending",
                    },
                )
                await vendor(
                    session,
                    "PATCH",
                    f"{url}/_admin/orders/{found['wrong-amount-1']}",
                    {"amount_minor": 2400},
                )
                # Fulfilled silently: its webhook never comes.
                await vendor(
                    session,
                    "PATCH",
                    f"{url}/_admin/orders/{found['missed-hook-1']}",
                    {"status": "fulfilled"},
                )
                await vendor(
                    session,
                    "POST",
                    f"{url}/_admin/orders",
                    {
                        "reference": "gcl-nobody-ordered-this",
                        "amount_minor": 999,
                        "currency": "USD",
                        "status": "fulfilled",
                    },
                )

            now = datetime.now(UTC)
            window = (now - timedelta(hours=1), now + timedelta(hours=1))
            first = await run_and_wait(client, admin, *window)
            for _ in range(200):  # the discrepancy projection follows the log
                listed = await discrepancy_list(client, admin)
                if len(listed) == 5:
                    break
                await asyncio.sleep(0.05)
            assert listed == sorted(
                [
                    ("amount_mismatch", refs["wrong-amount-1"][0], "open"),
                    ("duplicate_at_vendor", refs["duplicated-1"][0], "open"),
                    ("missing_at_vendor", refs["never-got-1"][0], "open"),
                    ("missing_internally", "gcl-nobody-ordered-this", "open"),
                    ("status_mismatch", refs["missed-hook-1"][0], "auto_resolved"),
                ]
            )
            assert first["counts"]["missed_webhooks"] == 1
            assert first["counts"]["records_seen"] == 6
            healed = await (
                await client.get("/api/v1/orders/missed-hook-1", headers=headers)
            ).json()
            assert healed["status"] == "fulfilled"

            second = await run_and_wait(client, admin, *window)
            await asyncio.sleep(0.3)
            assert await discrepancy_list(client, admin) == listed
            assert (
                second["counts"]["amount_mismatch"] == 1
                and second["counts"]["status_mismatch"] == 0
            )
            async with pool.acquire() as conn:
                projection = client.app[PROJECTIONS]["discrepancies"]
                assert await rebuild(conn, projection, verify_only=True) == []
