"""A serve process killed with SIGKILL mid-flight loses and duplicates nothing."""

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path

import aiohttp

from tests.cli import orders_key_headers, start_cli
from tests.harness import TEST_SECRETS_KEY, order_body, sandbox_stats

ORDERS = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    env.update(
        DATABASE_URL=database_url,
        DATA_DIR=str(tmp_path),
        SECRETS_KEY=TEST_SECRETS_KEY,
        POLL_INTERVAL_S="0.1",
        COMPLETER_BACKOFF_S="0.1",
        LOG_LEVEL="warning",
    )
    return env | extra


async def wait_for_service(api: str, within_s: float = 60) -> None:
    """Until `serve` serves: its /healthz says "starting" while the database is not usable."""
    deadline = asyncio.get_running_loop().time() + within_s
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(api + "/healthz") as response:
                    if (await response.json())["status"] == "ok":
                        return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(api)
            await asyncio.sleep(0.1)


async def wait_for(url: str, within_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(url)
            await asyncio.sleep(0.1)


async def test_orders_accepted_before_a_sigkill_complete_exactly_once_after_restart(
    database_url, tmp_path
):
    sandbox_port, api_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    api = f"http://127.0.0.1:{api_port}"
    env = env_for(
        database_url,
        tmp_path,
        PORT=str(api_port),
        SANDBOX_PORT="0",
        SANDBOX_URL=sandbox_url,
        SYNC_BUDGET_S="0.1",
        SANDBOX_FAULTS="seed=5,latency_ms=400",
    )
    vendor = start_cli("sandbox", "--port", str(sandbox_port), env=env)
    headers = await orders_key_headers(env)
    server = start_cli("serve", env=env)
    try:
        await wait_for(sandbox_url + "/_admin/stats")
        await wait_for_service(api)
        accepted: list[str] = []
        still_pending: list[str] = []
        async with aiohttp.ClientSession() as session:

            async def submit(key: str) -> None:
                try:
                    async with session.post(
                        f"{api}/api/v1/orders", json=order_body(key), headers=headers
                    ) as r:
                        if r.status in (201, 202):
                            accepted.append(key)
                        if r.status == 202:
                            still_pending.append(key)
                except aiohttp.ClientError:
                    pass  # the kill cut this request: the client never saw it accepted

            sends = [asyncio.create_task(submit(f"crash-order-{i:03d}")) for i in range(ORDERS)]
            await asyncio.sleep(0.8)  # vendor calls are in flight (400 ms latency each)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
            await asyncio.gather(*sends)
            # Accepted while its vendor call was still running: the case a crash can lose.
            assert still_pending, "no order was in flight at the kill"

            server = start_cli("serve", env=env)
            await wait_for_service(api)
            deadline = asyncio.get_running_loop().time() + 60
            statuses: dict[str, str] = {}
            while asyncio.get_running_loop().time() < deadline:
                for key in accepted:
                    async with session.get(f"{api}/api/v1/orders/{key}", headers=headers) as r:
                        statuses[key] = (await r.json()).get("status")
                if all(s == "fulfilled" for s in statuses.values()):
                    break
                await asyncio.sleep(0.2)
        assert all(statuses[key] == "fulfilled" for key in accepted), statuses
        stats = await sandbox_stats(sandbox_url)
        assert stats["duplicate_references"] == []
        assert stats["orders"] >= len(accepted)
        assert stats["orders"] <= ORDERS
    finally:
        for process in (server, vendor):
            process.kill()
            process.wait(timeout=10)
