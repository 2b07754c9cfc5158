"""Delivery survives a kill -9 between attempts: a new process resumes every undelivered
announcement from the database, with the ids the receiver already saw."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ledger.webhooks.outgoing import announcement_id
from tests.cli import orders_key_headers, start_cli
from tests.e2e.fleet.nodes import place
from tests.e2e.merchant_webhooks.receiver import receiving
from tests.e2e.orders.test_crash_recovery import env_for, free_port, wait_for_service

pytestmark = pytest.mark.slow
KEYS = [f"wh-crash-{n:02d}" for n in range(6)]


def serve(env: dict[str, str]) -> tuple[str, object]:
    port = free_port()
    process = start_cli("serve", env={**env, "PORT": str(port), "SANDBOX_PORT": str(free_port())})
    return f"http://127.0.0.1:{port}", process


async def test_a_kill_9_between_attempts_loses_no_announcement(database_url, tmp_path):
    env = env_for(
        database_url,
        tmp_path,
        WEBHOOK_ALLOW_PRIVATE="true",
        WEBHOOK_RETRY_BASE_S="0.5",
        SCHEDULES="false",
    )
    headers = await orders_key_headers(env)
    async with receiving() as (url, receiver), aiohttp.ClientSession() as session:
        receiver.status = 500  # every attempt fails until the crash
        api, first = serve(env)
        try:
            await wait_for_service(api)
            async with session.post(
                f"{api}/api/v1/webhook-endpoints", json={"url": url}, headers=headers
            ) as created:
                assert created.status == 201
            for key in KEYS:
                await place(session, api, key, headers)
            await receiver.until(
                lambda r: (
                    {d.event["data"]["idempotency_key"] for d in r.deliveries} == set(KEYS)
                    and len(r.deliveries) >= 2 * len(KEYS)
                ),
                within_s=30,
            )
        finally:
            first.kill()
            first.wait(timeout=10)
        # Each order's first event failed at least once, and its later one waited behind it.
        pending_ids = {announcement_id("order.pending", f"order:acme:{k}:1") for k in KEYS}
        assert set(receiver.ids()) == pending_ids
        receiver.status = 200
        api, second = serve(env)
        try:
            await wait_for_service(api)
            await receiver.until(
                lambda r: all(r.of_order(k)[-1:] == ["order.fulfilled"] for k in KEYS), within_s=60
            )
            await until_nothing_waits(session, api, headers)
        finally:
            second.kill()
            second.wait(timeout=10)
    for key in KEYS:
        told = receiver.of_order(key)
        assert set(told[:-1]) == {"order.pending"} and told[-1] == "order.fulfilled"


async def until_nothing_waits(session, api: str, headers, within_s: float = 30) -> None:
    """GET webhook-events?status=pending until it lists nothing: every delivery recorded."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        async with session.get(f"{api}/api/v1/webhook-events?status=pending", headers=headers) as r:
            if (await r.json())["items"] == []:
                return
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)
